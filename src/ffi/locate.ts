/**
 * Finds the native shim, building it when needed. Order:
 * 1. `MEMSTATS_SHIM_PATH` (an absolute path) wins;
 * 2. a prebuilt library shipped next to this module for this platform, used
 *    only when its recorded source hash matches the embedded source;
 * 3. the per-user cache, keyed by the hash of the source and build flags;
 * 4. a build with `${CC:-cc}` from the embedded source into that cache
 *    (temp name, then rename: concurrent first uses are safe);
 * 5. otherwise a `SHIM` error naming `CC` and `MEMSTATS_SHIM_PATH`.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { MemstatsError } from "../errors.ts";
import { SHIM_SOURCE, SHIM_SOURCE_SHA256 } from "./shim_source.ts";

/** Compiler flags; part of the cache key. */
export const SHIM_CFLAGS: readonly string[] = ["-O2", "-shared", "-fPIC", "-std=c11", "-pthread", "-Wall"];

/** `linux-x64`, `darwin-arm64`, ... */
export function platformTag(): string {
  return `${process.platform}-${process.arch}`;
}

function libraryExtension(): string {
  return process.platform === "darwin" ? "dylib" : "so";
}

/** The compiler arguments that build `src` into the library `out`. */
export function shimCompileArgs(src: string, out: string): string[] {
  // -z nodelete: the shim's thread-exit hook must stay loaded for as long as threads can exit.
  return [
    ...SHIM_CFLAGS,
    "-o",
    out,
    src,
    ...(process.platform === "linux" ? ["-Wl,-z,nodelete", "-lrt"] : []),
  ];
}

/** The cache key: the source, the flags and the platform. */
export function shimCacheKey(): string {
  return createHash("sha256")
    .update(SHIM_SOURCE_SHA256)
    .update(SHIM_CFLAGS.join(" "))
    .update(platformTag())
    .digest("hex")
    .slice(0, 16);
}

/** The per-user cache directory. */
export function shimCacheDir(env: (name: string) => string | undefined): string {
  const xdg = env("XDG_CACHE_HOME");
  if (xdg && isAbsolute(xdg)) return join(xdg, "memstats-shm");
  const home = env("HOME");
  if (home && isAbsolute(home)) return join(home, ".cache", "memstats-shm");
  const uid = typeof process.getuid === "function" ? process.getuid() : "user";
  return join(tmpdir(), `memstats-shm-${uid}`);
}

/** What `scripts/build_npm.ts` records next to a prebuilt library. */
export interface PrebuiltStamp {
  /** SHA-256 of the C source it was built from. */
  sourceSha256: string;
  /** SHA-256 of the library file itself. */
  libSha256: string;
  /** `linux-x64`, ... */
  platform: string;
}

/** File name of the shim library on this platform. */
export function libraryName(): string {
  return `libmemstats_shim.${libraryExtension()}`;
}

/**
 * A prebuilt library shipped in the npm package for this platform, used only
 * when it was built from exactly the embedded source and its bytes are the
 * ones recorded at build time (never a stale or altered one).
 */
function prebuiltPath(): string | undefined {
  const url = new URL(`../../native/prebuilt/${platformTag()}/`, import.meta.url);
  if (url.protocol !== "file:") return undefined; // loaded from JSR or https
  const dir = fileURLToPath(url);
  try {
    const stamp = JSON.parse(readFileSync(join(dir, "build.json"), "utf8")) as PrebuiltStamp;
    if (stamp.sourceSha256 !== SHIM_SOURCE_SHA256 || stamp.platform !== platformTag()) return undefined;
    const lib = join(dir, libraryName());
    const digest = createHash("sha256").update(readFileSync(lib)).digest("hex");
    return digest === stamp.libSha256 ? lib : undefined;
  } catch {
    return undefined; // none shipped for this platform
  }
}

function ourUid(): number | undefined {
  try {
    return typeof process.getuid === "function" ? process.getuid() : undefined;
  } catch {
    return undefined; // Deno without --allow-sys: the mode check still applies
  }
}

/**
 * A library loaded from a place another user can write is code that user
 * controls: the cache directory and a cached library must belong to us and
 * must not be writable by group or others.
 */
function assertPrivate(path: string, what: string): void {
  const st = statSync(path);
  const uid = ourUid();
  if (uid !== undefined && st.uid !== uid) {
    throw new MemstatsError(
      "SHIM",
      `shim ${what} ${path} belongs to uid ${st.uid}, not to you (uid ${uid}); remove it, ` +
        `or set XDG_CACHE_HOME to a directory of yours, or MEMSTATS_SHIM_PATH to a library you built`,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    throw new MemstatsError(
      "SHIM",
      `shim ${what} ${path} is writable by other users (mode ${(st.mode & 0o777).toString(8)}); ` +
        `run chmod go-w on it, or set MEMSTATS_SHIM_PATH to a library you built`,
    );
  }
}

function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  assertPrivate(dir, "cache directory");
}

function compile(dir: string, target: string, env: (name: string) => string | undefined): void {
  const cc = env("CC") || "cc";
  const nonce = `${process.pid}-${Math.random().toString(36).slice(2)}`;
  const src = join(dir, `memstats_shim-${nonce}.c`);
  const tmp = join(dir, `${target.slice(dir.length + 1)}.${nonce}.tmp`);
  try {
    writeFileSync(src, SHIM_SOURCE);
    execFileSync(cc, shimCompileArgs(src, tmp), {
      stdio: ["ignore", "pipe", "pipe"],
    });
    renameSync(tmp, target); // atomic: a concurrent loader sees all or nothing
  } catch (e) {
    const detail = e instanceof Error ? e.message.split("\n").slice(0, 3).join(" ") : String(e);
    throw new MemstatsError(
      "SHIM",
      `cannot build the native shim with CC=${cc} (${detail}); install a C compiler (set CC to it), ` +
        `or build native/memstats_shim.c yourself and set MEMSTATS_SHIM_PATH to the library's absolute path`,
    );
  } finally {
    rmSync(src, { force: true });
    rmSync(tmp, { force: true });
  }
}

/**
 * The absolute path of a shim library for this platform, building one if
 * needed. Throws `SHIM` when none can be found or built.
 */
export function locateShim(env: (name: string) => string | undefined): string {
  const override = env("MEMSTATS_SHIM_PATH");
  if (override) {
    if (!isAbsolute(override) || !existsSync(override)) {
      throw new MemstatsError(
        "SHIM",
        `MEMSTATS_SHIM_PATH=${override} is not an absolute path to an existing file; fix it or unset it`,
      );
    }
    return override;
  }
  const prebuilt = prebuiltPath();
  if (prebuilt) return prebuilt;
  const dir = shimCacheDir(env);
  const target = join(dir, `libmemstats_shim-${shimCacheKey()}.${libraryExtension()}`);
  if (existsSync(target)) {
    assertPrivate(dir, "cache directory");
    assertPrivate(target, "library");
    return target;
  }
  try {
    ensurePrivateDir(dir);
  } catch (e) {
    if (e instanceof MemstatsError) throw e;
    throw new MemstatsError(
      "SHIM",
      `cannot create the shim cache directory ${dir} (${(e as Error).message}); ` +
        `set XDG_CACHE_HOME to a writable directory or MEMSTATS_SHIM_PATH to a built library`,
    );
  }
  compile(dir, target, env);
  return target;
}
