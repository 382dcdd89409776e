/**
 * The native shim: the embedded C source matches native/, first use builds
 * it into the per-user cache (safely when ten processes start at once), and
 * MEMSTATS_SHIM_PATH wins over everything.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { renderShimModule } from "../scripts/embed_shim.ts";
import { SHIM_SOURCE } from "../src/ffi/shim_source.ts";
import { cachedLibraryName, shimCompileArgs } from "../src/ffi/locate.ts";
import { HERE, ROOT, runArgs, runFile, type Runtime, uniqueName } from "./helpers.ts";

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

  it("a cross compiler in CC is a SHIM error naming it, and a cached library for another CPU is rebuilt", {
    skip: spawnSync("aarch64-linux-gnu-gcc", ["--version"]).status === 0 || process.arch !== "x64"
      ? false
      : "needs x86-64 and aarch64-linux-gnu-gcc (Debian gcc-aarch64-linux-gnu)",
  }, () => {
    const cache = mkdtempSync(`${tmpdir()}/memstats-cross-`);
    try {
      const env = { XDG_CACHE_HOME: cache, MEMSTATS_SHIM_PATH: "", MEMSTATS_SHIM_PREBUILT: "0" };
      const cross = runFile(HERE, PROBE, [uniqueName("cross")], { ...env, CC: "aarch64-linux-gnu-gcc" });
      assert.match(
        cross.stdout,
        /^SHIM .*CC=aarch64-linux-gnu-gcc is built for arm64, not for this x86-64 process/m,
      );
      assert.deepEqual(readdirSync(`${cache}/memstats-shm`), [], "the arm64 library is not cached as ours");
      // An arm64 library left under our cache name by an older version: found out and rebuilt.
      const lib = `${cache}/memstats-shm/${cachedLibraryName()}`;
      spawnSync("aarch64-linux-gnu-gcc", shimCompileArgs(`${ROOT}native/memstats_shim.c`, lib), {
        encoding: "utf8",
      });
      chmodSync(lib, 0o500);
      assert.equal(runFile(HERE, PROBE, [uniqueName("cross")], env).stdout.trim(), "OK");
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

/** The values of a C enum's members with `prefix`, in the order written (implicit values counted). */
function cEnum(source: string, prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const body of source.matchAll(/enum\s*\{([^}]*)\}/g)) {
    let next = 0;
    for (const raw of body[1].replace(/\/\*[\s\S]*?\*\//g, "").split(",")) {
      const m = /^\s*([A-Z_][A-Z0-9_]*)\s*(?:=\s*(\d+))?\s*$/.exec(raw);
      if (!m) continue;
      const value = m[2] !== undefined ? Number(m[2]) : next;
      if (m[1].startsWith(prefix)) out.set(m[1], value);
      next = value + 1;
    }
  }
  return out;
}

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

describe("the scan's request block", () => {
  it("src/reader.ts (IO, R, SCAN_*) and native/reference/shim_reader.c mirror the shim's enums", async () => {
    const reader = await import("../src/reader.ts");
    const shimC = readFileSync(`${ROOT}native/memstats_shim.c`, "utf8");
    const io = cEnum(shimC, "IO_");
    const r = cEnum(shimC, "R_");
    const scan = cEnum(shimC, "SCAN_");
    assert.ok(io.size > 15 && r.size > 10 && scan.size >= 7, "the shim's enums were found");
    for (const [k, v] of Object.entries(reader.IO)) {
      const c = k === "skipped" ? "IO_SKIPPED" : k === "maxRecords" ? "IO_MAX_RECORDS" : `IO_${snake(k)}`;
      assert.equal(io.get(c), v, `${c} is ${io.get(c)} in the shim, ${v} in src/reader.ts`);
    }
    for (const [k, v] of Object.entries(reader.R)) {
      const c = k === "pidNamespace"
        ? "R_NS"
        : k === "registeredAt"
        ? "R_REGISTERED"
        : k === "updatedAt"
        ? "R_UPDATED"
        : k === "values"
        ? "R_FIXED"
        : `R_${snake(k)}`;
      assert.equal(r.get(c), v, `${c} is ${r.get(c)} in the shim, ${v} in src/reader.ts`);
    }
    for (const [name, value] of scan) {
      assert.equal((reader as Record<string, unknown>)[name], value, `${name} in src/reader.ts`);
    }
    const mirror = readFileSync(`${ROOT}native/reference/shim_reader.c`, "utf8");
    for (const [prefix, table] of [["IO_", io], ["R_", r]] as const) {
      for (const [name, value] of cEnum(mirror, prefix)) {
        assert.equal(value, table.get(name), `${name} in shim_reader.c`);
      }
    }
  });
});
