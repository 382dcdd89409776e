/**
 * The README's demo in a short mode: Bun servers sharing a port with
 * Workers, a load generator and a `memstats watch` under Deno, for a few
 * seconds. It must end by itself with a summary, stop every process it
 * started and leave no segment behind.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { cleanup, ROOT, runtimeBin, uniqueName } from "./helpers.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(spawnSync("cat", [`/proc/${pid}/status`], { encoding: "utf8" }).stdout);
  } catch {
    return false;
  }
}

describe("demo", () => {
  it("a short run ends by itself with a summary and leaves no segment or process behind", () => {
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
          `^memstats demo: 2 Bun server processes × 1 worker on 127\\.0\\.0\\.1:\\d+, segment ${name}, 3 s$`,
          "m",
        ),
      );
      // The watcher, piped, printed snapshots of the live table.
      assert.match(out, /^--- \d{4}-/m);
      assert.match(out, /^SLOT\s+ID\s+PID\s+TID\s+LABEL\s+ARENA\s+RSS\s+HEAP_USED\s+REQUESTS\s+AGE$/m);
      assert.match(out, /\shttp-0\/w0\s/);
      assert.match(out, /^capacity: 4 of 16 slots used/m);
      // The summary: one row per process, then totals.
      const summary = out.slice(out.indexOf("\nsummary: "));
      assert.match(summary, /^summary: \d+ requests in \d+\.\d s \(\d+\/s\), 0 errors$/m);
      const rows = summary.split("\n").filter((l) => /^\d+\s+http-\d/.test(l));
      assert.equal(rows.length, 2, summary);
      for (const row of rows) {
        assert.match(row, /^\d+\s+http-\d\s+2\s+\d+\s+[\d.]+[BKMG]\s+[\d.]+[KMG]$/);
        assert.ok(!alive(Number(row.split(/\s+/)[0])), "server process gone");
      }
      assert.match(summary, /^total\s+4\s+\d+\s+/m);
      assert.ok(Number(/^summary: (\d+) requests/m.exec(summary)![1]) > 0, "requests were served");
      assert.match(out, new RegExp(`^segment ${name} removed$`, "m"));
      assert.equal(existsSync(`/dev/shm${name}`), false);
    } finally {
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
