/**
 * Keeps the benchmark from rotting: `scripts/bench.ts --smoke` (a handful of
 * iterations of every section, child processes and prom-client included)
 * must run in this runtime, write a complete report and leave no segment
 * behind. No timing is asserted.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { HERE, ROOT, runFile } from "./helpers.ts";

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
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
