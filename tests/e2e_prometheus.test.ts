/**
 * End to end with a real Prometheus (Debian's `prometheus` package, which
 * `.ci/run` installs): Bun and Deno writers, `memstats serve` on a free
 * loopback port, and `prometheus` on loopback scraping it every second with
 * its data in a temporary directory. Prometheus's HTTP API must return the
 * writers' series with their labels and values and totals that match the
 * segment; `promtool check metrics` must pass on /metrics; when the segment
 * is removed, Prometheus sees `memstats_segment_up 0` and the target stays
 * up. Prometheus 2.x asks for OpenMetrics first, so this scrapes the
 * OpenMetrics rendering; promtool checks the 0.0.4 text.
 *
 * Skipped, by name, when `prometheus` or `promtool` is not installed; this
 * test never installs anything.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { takeSnapshot } from "../src/report.ts";
import { cleanup, HERE, onlyUnder, uniqueName } from "./helpers.ts";
import { hasTool, Proc } from "./fixtures/proc.ts";
import { eventually, freePort, ServeProc } from "./fixtures/serve_proc.ts";

const MiB = 1 << 20;
const SKIP = hasTool("prometheus") && hasTool("promtool")
  ? false
  : "prometheus and promtool not installed (Debian package prometheus; .ci/run installs it)";

interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

describe("end to end: Prometheus", () => {
  it(
    "a real Prometheus scrapes memstats serve: the Bun and Deno writers' series with labels and values, totals match the segment, promtool check metrics passes",
    {
      skip: SKIP || onlyUnder("node"),
    },
    async () => {
      const name = uniqueName("e2e-prom");
      const dir = mkdtempSync(`${tmpdir()}/memstats-e2e-prom-`);
      let bun: Proc | undefined;
      let deno: Proc | undefined;
      let server: ServeProc | undefined;
      let prom: ChildProcess | undefined;
      let promLog = "";
      let promExit: Promise<unknown> = Promise.resolve();
      try {
        // Writers: one Bun process with two slots, one Deno process with one.
        bun = new Proc("bun", "diag_child.ts");
        deno = new Proc("deno", "diag_child.ts");
        await bun.send({
          op: "open",
          name,
          options: {
            capacity: 8,
            fields: ["arena_bytes", { name: "rss_bytes", kind: "process" }, "requests"],
          },
        });
        await deno.send({ op: "open", name, options: { create: false } });
        const b1 = await bun.send({ op: "register", label: "bun-http" });
        const b2 = await bun.send({ op: "register", label: 'bun "worker" 1' });
        const d1 = await deno.send({ op: "register", label: "deno-main" });
        await bun.send({
          op: "update",
          slot: b1.slot,
          values: { arena_bytes: 3 * MiB, rss_bytes: 40 * MiB, requests: 1200 },
        });
        await bun.send({
          op: "update",
          slot: b2.slot,
          values: { arena_bytes: 5 * MiB, rss_bytes: 40 * MiB, requests: 34 },
        });
        await deno.send({
          op: "update",
          slot: d1.slot,
          values: { arena_bytes: 7 * MiB, rss_bytes: 25 * MiB, requests: 5 },
        });

        server = new ServeProc(HERE, [name, "--port", "0"]);
        const base = await server.url();
        const target = new URL(base).host;

        // promtool on the 0.0.4 text.
        const text = await (await fetch(`${base}metrics`)).text();
        const check = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
        assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);

        // Prometheus on loopback, scraping every second, data in the temporary directory.
        writeFileSync(
          `${dir}/prometheus.yml`,
          [
            "global:",
            "  scrape_interval: 1s",
            "  scrape_timeout: 1s",
            "  evaluation_interval: 1s",
            "scrape_configs:",
            "  - job_name: memstats",
            "    static_configs:",
            `      - targets: ["${target}"]`,
            "        labels:",
            "          machine: e2e-host",
            "",
          ].join("\n"),
        );
        // A free port, and another one should something take it before prometheus binds it.
        let api = "";
        for (let attempt = 1; api === ""; attempt++) {
          const promPort = await freePort();
          promLog = "";
          const p = spawn("prometheus", [
            `--config.file=${dir}/prometheus.yml`,
            `--storage.tsdb.path=${dir}/data`,
            `--web.listen-address=127.0.0.1:${promPort}`,
            "--log.level=warn",
          ], { stdio: ["ignore", "pipe", "pipe"], cwd: dir });
          prom = p;
          promExit = new Promise((r) => p.on("exit", r));
          p.stdout!.on("data", (d) => (promLog += d));
          p.stderr!.on("data", (d) => (promLog += d));
          const ready = await eventually(
            async () => {
              if (p.exitCode !== null || p.signalCode !== null) return "exited";
              const r = await fetch(`http://127.0.0.1:${promPort}/-/ready`);
              await r.body?.cancel();
              return r.ok ? "ready" : undefined;
            },
            "prometheus to be ready",
            120_000,
            250,
          );
          if (ready === "ready") api = `http://127.0.0.1:${promPort}`;
          else if (attempt >= 3 || !/address already in use/i.test(promLog)) {
            throw new Error(`prometheus exited (${p.exitCode}): ${promLog}`);
          }
        }
        const query = async (q: string): Promise<Series[]> => {
          const r = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(q)}`);
          const body = await r.json();
          if (body.status !== "success") throw new Error(`query ${q}: ${JSON.stringify(body)}`);
          return body.data.result as Series[];
        };

        // Wait for a scrape that has every writer's series.
        const values = await eventually(
          async () => {
            const s = await query(`memstats_slot_value{segment="${name}"}`);
            return s.length === 9 ? s : undefined;
          },
          `a scrape with all 9 slot series; prometheus log: ${promLog}`,
          120_000,
          500,
        );

        // The same segment, read directly.
        const reader = MemoryStatsRegistry.open(name, { readOnly: true });
        const snap = takeSnapshot(reader);
        reader.close();
        assert.equal(snap.slots.length, 3);
        for (const slot of snap.slots) {
          for (const field of snap.fields) {
            const series = values.find((v) =>
              v.metric.slot === String(slot.slot) && v.metric.field === field
            );
            assert.ok(series, `series for slot ${slot.slot} ${field}`);
            assert.deepEqual(series.metric, {
              __name__: "memstats_slot_value",
              job: "memstats",
              instance: target,
              machine: "e2e-host",
              segment: name,
              slot: String(slot.slot),
              pid: String(slot.pid),
              tid: String(slot.tid),
              label: slot.label,
              field,
            });
            assert.equal(Number(series.value[1]), slot.values[field], `${slot.label} ${field}`);
          }
        }
        const pids = new Set(values.map((v) => v.metric.pid));
        assert.deepEqual(pids, new Set([String(bun.pid), String(deno.pid)]), "both writers' processes");
        assert.ok(
          values.some((v) => v.metric.label === 'bun "worker" 1'),
          "a label with quotes survives escaping",
        );

        const peaks = await query(`memstats_slot_peak{segment="${name}",field="arena_bytes"}`);
        assert.equal(peaks.length, 3);

        // Totals: the same as the segment's, and the sum of the slots' series (rss: once per process).
        const totals = await query(`memstats_segment_value{segment="${name}"}`);
        assert.equal(totals.length, 3);
        for (const t of totals) {
          assert.equal(Number(t.value[1]), snap.totals[t.metric.field], `total ${t.metric.field}`);
        }
        assert.deepEqual(
          Object.fromEntries(totals.map((t) => [t.metric.field, Number(t.value[1])])),
          { arena_bytes: 15 * MiB, rss_bytes: 65 * MiB, requests: 1239 },
        );
        const summed = await query(
          `sum by (field) (memstats_slot_value{segment="${name}",field!="rss_bytes"})`,
        );
        for (const s of summed) assert.equal(Number(s.value[1]), snap.totals[s.metric.field]);
        const one = async (q: string) => {
          const r = await query(q);
          assert.equal(r.length, 1, `${q}: ${JSON.stringify(r)}`);
          return Number(r[0].value[1]);
        };
        assert.equal(await one(`memstats_active_slots{segment="${name}"}`), 3);
        assert.equal(await one(`memstats_capacity_slots{segment="${name}"}`), 8);
        assert.equal(await one(`memstats_overflow_total{segment="${name}"}`), 0);
        assert.equal(await one(`memstats_reclaimed_total{segment="${name}"}`), 0);
        assert.equal(await one(`memstats_segment_up{segment="${name}"}`), 1);
        assert.equal(await one(`up{job="memstats"}`), 1);
        const targets = await (await fetch(`${api}/api/v1/targets`)).json();
        const t = targets.data.activeTargets.find((x: { labels: { instance: string } }) =>
          x.labels.instance === target
        );
        assert.equal(t?.health, "up", JSON.stringify(t));
        assert.equal(t?.lastError, "");

        // Metadata keyed by family: "memstats_overflow" (not *_total) shows the scrape was OpenMetrics.
        const meta = (await (await fetch(`${api}/api/v1/metadata`)).json()).data;
        assert.deepEqual(meta.memstats_overflow?.[0]?.type, "counter", JSON.stringify(Object.keys(meta)));
        assert.equal(meta.memstats_overflow_total, undefined);
        assert.equal(meta.memstats_slot_updated_timestamp_seconds?.[0]?.unit, "seconds");
        assert.equal(meta.memstats_segment_up?.[0]?.type, "gauge");

        // The segment goes away: the gauge says so, the target stays up.
        MemoryStatsRegistry.unlink(name);
        await eventually(
          async () => {
            const r = await query(`memstats_segment_up{segment="${name}"} == 0`);
            return r.length === 1 ? true : undefined;
          },
          "memstats_segment_up 0 in prometheus",
          120_000,
          500,
        );
        assert.equal(await one(`up{job="memstats"}`), 1);
        assert.ok(server.alive, "memstats serve still running");
      } finally {
        if (prom && prom.exitCode === null) {
          try {
            process.kill(prom.pid!, "SIGTERM");
          } catch { /* gone */ }
          const timer = setTimeout(() => {
            try {
              process.kill(prom!.pid!, "SIGKILL");
            } catch { /* gone */ }
          }, 20_000);
          await promExit;
          clearTimeout(timer);
        }
        await server?.stop("SIGKILL");
        await bun?.kill();
        await deno?.kill();
        cleanup(name);
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
