/**
 * Keeps the benchmark from rotting: `scripts/bench.ts --smoke` (a handful of
 * iterations of every section, child processes and prom-client included)
 * must run in this runtime, write a complete report and leave no segment
 * behind. No timing is asserted.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { cleanup, HERE, onlyUnder, ROOT, runArgs, runFile, uniqueName, waitFor } from "./helpers.ts";

/** Pids of live processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, "utf8").includes(text)) pids.push(Number(d));
    } catch { /* gone */ }
  }
  return pids;
}

function benchSegments(tag: string): string[] {
  return existsSync("/dev/shm")
    ? readdirSync("/dev/shm").filter((f) => f.startsWith(`mst-bench-${tag}-`))
    : [];
}

describe("benchmark smoke", () => {
  it(`bench.ts --smoke runs every section under ${HERE} and writes a full report`, () => {
    const dir = mkdtempSync(join(tmpdir(), "memstats-bench-smoke-"));
    const tag = `smoke${process.pid}${Math.random().toString(36).slice(2, 6)}`;
    try {
      const out = join(dir, "BENCHMARKS.md");
      const r = runFile(HERE, `${ROOT}scripts/bench.ts`, ["--smoke", "--runtimes", HERE, "--out", out], {
        MEMSTATS_BENCH_TAG: tag,
      });
      assert.equal(r.status, 0, `bench.ts failed:\n${r.stderr}\n${r.stdout}`);
      const md = readFileSync(out, "utf8");
      assert.match(md, /Smoke run/);
      for (
        const heading of [
          "## Machine",
          "## Goals",
          "## 1. Update fast path",
          "## 2. Readers",
          "## 3. Registration and open",
          "## 4. Cross-process visibility",
          "## 5. Two writers",
          "## 6. Collecting every process's figures",
          "## 7. Memory",
        ]
      ) {
        assert.ok(md.includes(heading), `report lacks ${heading}`);
      }
      for (
        const row of ["slot.set(v)", "updateArenaStats(v)", "naive", "clusterMetrics()", "unpadded 16-byte"]
      ) {
        assert.ok(md.includes(row), `report lacks ${row}`);
      }
      assert.ok(!/\bNaN\b/.test(md), "report has NaN figures");
      assert.deepEqual(benchSegments(tag), [], "the benchmark left segments behind");
      assert.deepEqual(processesMentioning(`mst-bench-${tag}-`), [], "the benchmark left processes behind");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a pingpong child whose peer releases its slot without a last value exits instead of spinning", async () => {
    const name = uniqueName("pong");
    const reg = MemoryStatsRegistry.open(name, { capacity: 4 });
    const ping = reg.registerSlot({ label: "ping" })!;
    const [cmd, argv] = runArgs(HERE, `${ROOT}scripts/bench_child.ts`, [
      "pingpong",
      name,
      "pong",
      "api",
      "10",
      "1",
    ]);
    const pong = spawn(cmd, argv, { stdio: "ignore" });
    const exited = new Promise((done) => pong.once("exit", done));
    try {
      // Released only once pong has answered: it has found its peer and is in its loop.
      ping.set(1);
      await waitFor(
        () => [...reg.perThreadStats()].some((t) => t.label === "pong" && t.arenaBytes === 1),
        20_000,
        "pong to answer",
      );
      ping.release(); // the peer is gone; its last value was never STOP
      const gone = await Promise.race([
        exited.then(() => true),
        new Promise((r) => setTimeout(r, 5000, false)),
      ]);
      assert.equal(gone, true, "pong still spinning 5 s after its peer released its slot");
    } finally {
      pong.kill("SIGKILL");
      reg.close();
      cleanup(name);
    }
  });
  // A pong that registered but had not yet found its peer when the peer released waited for it
  // forever (seen once in CI): finding the peer is bounded like every other wait.
  it("a pingpong child whose peer never appears gives up within its stall bound", {
    skip: onlyUnder("bun"),
  }, async () => {
    const name = uniqueName("nopeer");
    const reg = MemoryStatsRegistry.open(name, { capacity: 4 });
    const [cmd, argv] = runArgs(HERE, `${ROOT}scripts/bench_child.ts`, [
      "pingpong",
      name,
      "pong",
      "api",
      "10",
      "1",
    ]);
    const pong = spawn(cmd, argv, { stdio: "ignore" });
    const exited = new Promise((done) => pong.once("exit", done));
    try {
      const gone = await Promise.race([
        exited.then(() => true),
        new Promise((r) => setTimeout(r, 20_000, false)),
      ]);
      assert.equal(gone, true, "pong still waiting for its peer after 20 s");
    } finally {
      pong.kill("SIGKILL");
      reg.close();
      cleanup(name);
    }
  });
});
