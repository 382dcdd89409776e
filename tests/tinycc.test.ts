/**
 * The shim compiled by Bun's built-in TinyCC (no system compiler, no
 * prebuilt): forced here with a PATH without `cc` and
 * `MEMSTATS_SHIM_PREBUILT=0`. The slot tests pass on it, and a Worker's
 * slot comes back when the Worker ends (the thread-exit hook lives in
 * memory TinyCC allocated, which must outlive the Worker's JS heap).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { ROOT, runtimeBin, uniqueName } from "./helpers.ts";

const work = mkdtempSync(`${tmpdir()}/memstats-tinycc-`);
after(() => rmSync(work, { recursive: true, force: true }));

function tinyccEnv(): string[] {
  const bin = `${work}/bin`;
  mkdirSync(bin, { recursive: true });
  for (const tool of ["sh", "env", "true"]) {
    const p = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
    if (p) {
      try {
        symlinkSync(p, `${bin}/${tool}`);
      } catch { /* already there */ }
    }
  }
  return [
    `PATH=${bin}`,
    `HOME=${process.env.HOME ?? work}`,
    `XDG_CACHE_HOME=${work}/cache`,
    "MEMSTATS_SHIM_PREBUILT=0",
  ];
}

describe("the shim built by Bun's TinyCC", {
  skip: process.arch === "x64" && process.platform === "linux"
    ? false
    : "Bun's TinyCC path is Linux x86-64 only",
}, () => {
  it("the slot tests pass on it", () => {
    const r = spawnSync("env", ["-i", ...tinyccEnv(), runtimeBin("bun"), "test", "tests/slot.test.ts"], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 300_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /\b0 fail\b/);
  });

  it("Workers that end give their slots back (thread-exit hook in TinyCC's memory)", () => {
    const r = spawnSync("env", [
      "-i",
      ...tinyccEnv(),
      runtimeBin("bun"),
      `${ROOT}tests/fixtures/tinycc_workers.ts`,
      uniqueName("tcc"),
    ], { encoding: "utf8", timeout: 120_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
    assert.match(out.shim, /memstats_shim-[0-9a-f]{16}\.c$/, "compiled by TinyCC from the cached source");
    assert.deepEqual({ before: out.before, after: out.after, reclaimed: out.reclaimed }, {
      before: 3,
      after: 1,
      reclaimed: 0,
    });
  });
});
