/**
 * `@memstats/shm/prom-client`: the collector against real prom-client 15 in
 * this process (the very samples of `memstats show --prom`, default labels,
 * OpenMetrics, errors), and a real `node:cluster` app where one worker's
 * `/metrics` holds every worker's and thread's series.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { createInterface } from "node:readline";
import { Registry } from "prom-client";
import { MemoryStatsRegistry, MemstatsError, SAMPLER_FIELDS } from "../mod.ts";
import { takeSnapshot } from "../src/report.ts";
import { renderProm } from "../src/report_prom.ts";
import { registerPromClientCollector } from "../src/prom_client.ts";
import { cleanup, ROOT, runtimeBin, uniqueName } from "./helpers.ts";

/** The lines of an exposition that carry information (prom-client puts a blank line between families). */
function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

describe("prom-client collector", () => {
  it("a prom-client registry exposes exactly the samples, help and types of memstats show --prom", async () => {
    const name = uniqueName("promc");
    using reg = MemoryStatsRegistry.open(name, { capacity: 8, fields: ["rss_bytes", "requests"] });
    const a = reg.registerSlot({ label: 'api "main" \\ ✓' })!;
    a.update({ rss_bytes: 123_456_789, requests: 7 });
    reg.registerSlot({ label: "line\nbreak" })!.set(2 ** 40);
    try {
      const prom = new Registry();
      using collector = registerPromClientCollector(reg, prom);
      assert.deepEqual(lines(await prom.metrics()), lines(renderProm([takeSnapshot(reg)])));
      assert.ok(
        collector.names.includes("memstats_slot_value") &&
          collector.names.includes("memstats_overflow_total"),
      );
      // Values follow the table at every scrape.
      a.set(5);
      assert.match(
        await prom.metrics(),
        /^memstats_slot_value\{[^}]*label="api \\"main\\" \\\\ ✓",field="rss_bytes"\} 5$/m,
      );
      const json = await prom.getMetricsAsJSON();
      assert.equal(json.find((m) => m.name === "memstats_active_slots")?.values[0].value, 2);
    } finally {
      cleanup(name);
    }
  });

  it("default labels apply; an OpenMetrics registry names counters as the format requires", async () => {
    const name = uniqueName("promom");
    using reg = MemoryStatsRegistry.open(name, { capacity: 4 });
    reg.registerSlot({ label: "x" })!.set(42);
    try {
      const prom = new Registry();
      prom.setDefaultLabels({ app: "shop" });
      using _ = registerPromClientCollector(reg, prom);
      assert.match(
        await prom.metrics(),
        /^memstats_slot_value\{segment="[^"]+",.*,field="arena_bytes",app="shop"\} 42$/m,
      );
      // prom-client 15's types leave out the constructor's content type, which its code takes.
      const om = new (Registry as unknown as new (contentType: string) => Registry)(
        Registry.OPENMETRICS_CONTENT_TYPE,
      );
      using _om = registerPromClientCollector(reg, om);
      const text = await om.metrics();
      assert.match(text, /^# TYPE memstats_overflow counter$/m);
      assert.match(text, /^memstats_overflow_total\{segment="[^"]+"\} 0$/m);
      assert.ok(text.endsWith("# EOF\n"));
    } finally {
      cleanup(name);
    }
  });

  it("a second collector in one registry is INVALID_ARGUMENT and adds nothing; unregister() removes all; a closed registry is CLOSED", async () => {
    const name = uniqueName("promerr");
    const reg = MemoryStatsRegistry.open(name, { capacity: 4 });
    try {
      const prom = new Registry();
      const first = registerPromClientCollector(reg, prom);
      const count = prom.getMetricsAsArray().length;
      assert.throws(
        () => registerPromClientCollector(reg, prom),
        (e) =>
          e instanceof MemstatsError && e.code === "INVALID_ARGUMENT" && /unregister\(\)/.test(e.message),
      );
      assert.equal(prom.getMetricsAsArray().length, count, "nothing half-added");
      first.unregister();
      first.unregister();
      assert.equal(prom.getMetricsAsArray().length, 0);
      registerPromClientCollector(reg, prom);
      reg.close();
      await assert.rejects(prom.metrics(), (e) => e instanceof MemstatsError && e.code === "CLOSED");
    } finally {
      reg.close();
      cleanup(name);
    }
  });

  it("a node:cluster app with 3 workers: one worker's /metrics has every worker's and thread's series", async () => {
    const name = uniqueName("promcl");
    using reg = MemoryStatsRegistry.open(name, { capacity: 16, fields: [...SAMPLER_FIELDS] });
    const app = spawn(runtimeBin("node"), [`${ROOT}tests/fixtures/prom_cluster.ts`, name, "3"], {
      env: process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stderr = "";
    app.stderr!.on("data", (d) => (stderr += d));
    const exited = new Promise((resolve) => app.on("exit", resolve));
    try {
      const first = await Promise.race([
        new Promise<string>((resolve) => createInterface({ input: app.stdout! }).once("line", resolve)),
        exited.then(() => {
          throw new Error(`the cluster app exited: ${stderr}`);
        }),
      ]);
      const { port, workers } = JSON.parse(first) as { port: number; workers: number[] };
      assert.equal(workers.length, 3);
      const r = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(r.status, 200);
      const answeredBy = Number(r.headers.get("x-worker-pid"));
      assert.ok(workers.includes(answeredBy), `answered by a worker (${answeredBy})`);
      const text = await r.text();
      // prom-client's own default metrics, of the answering worker only, are still there.
      assert.equal(text.match(/^process_resident_memory_bytes \d+/gm)?.length, 1);
      const rows = [...text.matchAll(/^memstats_slot_value\{([^}]*),field="rss_bytes"\} (\d+)$/gm)].map((
        m,
      ) => ({
        pid: Number(/pid="(\d+)"/.exec(m[1])![1]),
        tid: Number(/tid="(\d+)"/.exec(m[1])![1]),
        label: /label="([^"]*)"/.exec(m[1])![1],
        rss: Number(m[2]),
      }));
      for (const pid of workers) {
        const mine = rows.filter((x) => x.pid === pid);
        assert.equal(mine.length, 2, `worker ${pid}: its main thread and its Worker thread`);
        assert.equal(new Set(mine.map((x) => x.tid)).size, 2);
        assert.ok(mine.every((x) => x.rss > 0), `worker ${pid} has sampled its memory`);
        assert.ok(mine.some((x) => x.label.endsWith("/thread")), JSON.stringify(mine));
      }
      // The same rows as a direct read of the segment.
      const direct = [...reg.perThreadStats()].map((t) => `${t.pid}/${t.tid}/${t.label}`).sort();
      assert.deepEqual(rows.map((x) => `${x.pid}/${x.tid}/${x.label}`).sort(), direct);
      assert.match(text, /^memstats_active_slots\{segment="[^"]+"\} 6$/m);
    } finally {
      app.stdin!.end();
      const timer = setTimeout(() => app.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
      cleanup(name);
    }
  });
});
