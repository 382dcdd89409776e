/**
 * The README's demo in a short mode: Bun servers sharing a port and a Node
 * cluster sharing another, all with Workers, a load generator and a
 * `memstats watch` under Deno, for a few seconds. It must end by itself with
 * a summary, stop every process it started and leave no segment behind;
 * `kill -QUIT` of a server while it runs shows that server's report.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { cleanup, onlyUnder, ROOT, runtimeBin, uniqueName, waitFor } from "./helpers.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(spawnSync("cat", [`/proc/${pid}/status`], { encoding: "utf8" }).stdout);
  } catch {
    return false;
  }
}

describe("demo", () => {
  it("a short run ends by itself with a summary and leaves no segment or process behind", {
    skip: onlyUnder("bun"),
  }, () => {
    const name = uniqueName("demo");
    try {
      const r = spawnSync(
        runtimeBin("bun"),
        [
          "scripts/demo.ts",
          "--duration",
          "3",
          "--processes",
          "2",
          "--workers",
          "1",
          "--segment",
          name,
          "--interval",
          "500",
        ],
        { cwd: ROOT, encoding: "utf8", timeout: 180_000, env: { ...process.env, NO_COLOR: "1" } },
      );
      assert.equal(r.status, 0, `demo failed:\n${r.stdout}\n${r.stderr}`);
      const out = r.stdout;
      assert.match(
        out,
        new RegExp(
          `^memstats demo: 2 Bun server processes × 1 worker on 127\\.0\\.0\\.1:\\d+, ` +
            `a Node cluster of 2 processes × 1 worker on 127\\.0\\.0\\.1:\\d+, segment ${name}, 3 s$`,
          "m",
        ),
      );
      // The watcher, piped, printed snapshots of the live table.
      assert.match(out, /^--- \d{4}-/m);
      assert.match(out, /^SLOT\s+ID\s+PID\s+TID\s+LABEL\s+ARENA\s+RSS\s+HEAP_USED\s+REQUESTS\s+AGE$/m);
      assert.match(out, /\shttp-0\/w0\s/);
      assert.match(out, /\snode-1\/w0\s/);
      assert.match(out, /^capacity: 9 of 16 slots used/m);
      // The summary: one row per process, then totals.
      const summary = out.slice(out.indexOf("\nsummary: "));
      assert.match(summary, /^summary: \d+ requests in \d+\.\d s \(\d+\/s\), 0 errors$/m);
      const rows = summary.split("\n").filter((l) => /^\d+\s+(http|node)/.test(l));
      assert.deepEqual(
        rows.map((r) => r.split(/\s+/)[1]),
        ["http-0", "http-1", "node", "node-1", "node-2"],
        summary,
      );
      for (const row of rows) {
        const threads = row.split(/\s+/)[1] === "node" ? 1 : 2; // the cluster's primary serves no requests
        assert.match(
          row,
          new RegExp(`^\\d+\\s+\\S+\\s+${threads}\\s+\\d+\\s+[\\d.]+[BKMG]\\s+[\\d.]+[KMG]$`),
        );
        assert.ok(!alive(Number(row.split(/\s+/)[0])), "server process gone");
      }
      const served = (side: RegExp) =>
        rows.filter((r) => side.test(r.split(/\s+/)[1])).reduce((t, r) => t + Number(r.split(/\s+/)[3]), 0);
      assert.ok(
        served(/^http-/) > 0 && served(/^node-/) > 0,
        "both the Bun and the Node servers served requests",
      );
      assert.match(summary, /^total\s+9\s+\d+\s+/m);
      assert.ok(Number(/^summary: (\d+) requests/m.exec(summary)![1]) > 0, "requests were served");
      assert.match(out, new RegExp(`^segment ${name} removed$`, "m"));
      assert.equal(existsSync(`/dev/shm${name}`), false);
    } finally {
      cleanup(name);
    }
  });

  it("kill -QUIT <server pid> while it runs: the server's report reaches the demo's stderr", {
    skip: onlyUnder("bun"),
  }, async () => {
    const name = uniqueName("demo-quit");
    const demo = spawn(
      runtimeBin("bun"),
      ["scripts/demo.ts", "--duration", "6", "--processes", "1", "--workers", "1", "--segment", name],
      { cwd: ROOT, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    let stdout = "";
    demo.stderr!.on("data", (d) => (stderr += d));
    demo.stdout!.on("data", (d) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => demo.on("close", (code) => resolve(code)));
    try {
      // Every server is ready once the watch has printed its first table; their pids come from the table.
      await waitFor(() => /^--- \d{4}-/m.test(stdout) || demo.exitCode !== null, 60_000, "the live table");
      const servers = new Map<string, number>();
      const reg = MemoryStatsRegistry.open(name, { readOnly: true, create: false });
      for (const t of reg.perThreadStats()) if (t.tid === t.pid) servers.set(t.label, t.pid);
      reg.close();
      assert.ok(servers.has("http-0"), JSON.stringify([...servers]));
      const quit = [...servers.entries()].filter(([label]) => label === "http-0" || label === "node-1");
      for (const [, pid] of quit) process.kill(pid, "SIGQUIT");
      assert.equal(await exited, 0, stderr);
      for (const [label, pid] of quit) {
        assert.match(
          stderr,
          new RegExp(`^=== memstats report: pid ${pid}, segment ${name}`, "m"),
          `${label}'s report`,
        );
      }
      assert.match(stderr, /^=== end of memstats report$/m);
    } finally {
      demo.kill("SIGKILL");
      cleanup(name);
    }
  });

  it("bad options are usage errors (exit 2), an existing segment is an error (exit 1)", () => {
    const bad = spawnSync(runtimeBin("bun"), ["scripts/demo.ts", "--processes", "zero"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--processes must be a whole number >= 1/);
    const help = spawnSync(runtimeBin("bun"), ["scripts/demo.ts", "--help"], { cwd: ROOT, encoding: "utf8" });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--duration <s>/);
    const name = uniqueName("demo-taken");
    MemoryStatsRegistry.open(name).close();
    try {
      const taken = spawnSync(runtimeBin("bun"), ["scripts/demo.ts", "--segment", name], {
        cwd: ROOT,
        encoding: "utf8",
      });
      assert.equal(taken.status, 1);
      assert.match(taken.stderr, new RegExp(`^demo: segment ${name} already exists; pick another --segment`));
      assert.ok(existsSync(`/dev/shm${name}`), "someone else's segment is left alone");
    } finally {
      cleanup(name);
    }
  });
});
