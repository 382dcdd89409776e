/**
 * The native shim: the embedded C source matches native/, first use builds
 * it into the per-user cache (safely when ten processes start at once), and
 * MEMSTATS_SHIM_PATH wins over everything.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { renderShimModule } from "../scripts/embed_shim.ts";
import { SHIM_SOURCE } from "../src/ffi/shim_source.ts";
import { cachedLibraryName } from "../src/ffi/locate.ts";
import { ROOT, runArgs, runFile, type Runtime, uniqueName } from "./helpers.ts";

const PROBE = `${ROOT}tests/fixtures/open_default.ts`;

function runAsync(rt: Runtime, env: Record<string, string>): Promise<string> {
  const [cmd, args] = runArgs(rt, PROBE, [uniqueName("cc")]);
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    p.on("close", () => resolve(out.trim())); // "close", not "exit": after stdout is drained
  });
}

describe("native shim", () => {
  it("src/ffi/shim_source.ts is generated from native/memstats_shim.c (run scripts/embed_shim.ts)", () => {
    const c = readFileSync(`${ROOT}native/memstats_shim.c`, "utf8");
    assert.equal(SHIM_SOURCE, c);
    assert.equal(readFileSync(`${ROOT}src/ffi/shim_source.ts`, "utf8"), renderShimModule(c));
  });

  it("the C source compiles cleanly with -Wall -Wextra -Werror", () => {
    const out = `${tmpdir()}/memstats-werror-${process.pid}.so`;
    const r = spawnSync(process.env.CC || "cc", [
      "-O2",
      "-shared",
      "-fPIC",
      "-std=c11",
      "-Wall",
      "-Wextra",
      "-Werror",
      "-o",
      out,
      `${ROOT}native/memstats_shim.c`,
    ], { encoding: "utf8" });
    rmSync(out, { force: true });
    assert.equal(r.status, 0, r.stderr);
  });

  it("ten processes of both runtimes starting at once on an empty cache all load one library", async () => {
    const cache = mkdtempSync(`${tmpdir()}/memstats-cache-`);
    try {
      const env = { XDG_CACHE_HOME: cache, MEMSTATS_SHIM_PATH: "", MEMSTATS_SHIM_PREBUILT: "0" };
      const outs = await Promise.all([...Array(10).keys()].map((i) => runAsync(i % 2 ? "bun" : "deno", env)));
      assert.deepEqual(outs, Array(10).fill("OK"));
      const files = readdirSync(`${cache}/memstats-shm`);
      assert.deepEqual(files, [cachedLibraryName()], "one library, no temp files left");
      assert.equal(statSync(`${cache}/memstats-shm`).mode & 0o777, 0o700);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it("MEMSTATS_SHIM_PATH wins, and a cache directory others can write is refused", () => {
    const cache = mkdtempSync(`${tmpdir()}/memstats-cache-`);
    try {
      const lib = `${cache}/custom.so`;
      const cc = spawnSync("cc", [
        "-O2",
        "-shared",
        "-fPIC",
        "-o",
        lib,
        `${ROOT}native/memstats_shim.c`,
        "-lrt",
      ]);
      assert.equal(cc.status, 0);
      const ok = runFile("deno", PROBE, [uniqueName("path")], {
        MEMSTATS_SHIM_PATH: lib,
        XDG_CACHE_HOME: `${cache}/x`,
      });
      assert.equal(ok.stdout.trim(), "OK", ok.stderr);
      const rel = runFile("bun", PROBE, [uniqueName("path")], { MEMSTATS_SHIM_PATH: "custom.so" });
      assert.match(rel.stdout, /^SHIM MEMSTATS_SHIM_PATH=custom\.so is not an absolute path/);
      spawnSync("mkdir", ["-m", "777", `${cache}/shared`, `${cache}/shared/memstats-shm`]);
      spawnSync("chmod", ["777", `${cache}/shared/memstats-shm`]);
      const shared = runFile("bun", PROBE, [uniqueName("shared")], {
        XDG_CACHE_HOME: `${cache}/shared`,
        MEMSTATS_SHIM_PATH: "",
        MEMSTATS_SHIM_PREBUILT: "0",
      });
      assert.match(shared.stdout, /^SHIM the shim cache directory .* is writable by other users/);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
