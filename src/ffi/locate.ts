/**
 * Finds the native shim, building it when needed. Candidates, in order:
 * 1. `MEMSTATS_SHIM_PATH` (an absolute path) wins, and is the only one tried;
 * 2. the prebuilt library shipped next to this module for this platform, CPU
 *    and C library (the npm package), used only when its stamp names the
 *    embedded source and its bytes hash to the stamp;
 * 3. the per-user cache, keyed by the source, the build flags and the
 *    platform tag (so an x86-64 and an arm64 process, or glibc and musl,
 *    sharing a home directory never load each other's library);
 * 4. a prebuilt library embedded in `prebuilt_embedded.ts` (the JSR package),
 *    verified the same way and written to that cache;
 * 5. a build with `${CC:-cc}` from the embedded source into that cache
 *    (temp name, then rename: concurrent first uses are safe);
 * 6. on Bun, `bun:ffi`'s built-in TinyCC (x86-64 only), when no prebuilt
 *    matches and the system compiler is missing or fails;
 * 7. otherwise a `SHIM` error with the reason each candidate was passed over.
 *
 * `MEMSTATS_SHIM_PREBUILT=0` skips 2 and 4 (build from source). Every file
 * is opened and checked as `trust.ts` describes, and loaded through its
 * descriptor.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  openSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { MemstatsError } from "../errors.ts";
import { EMBEDDED_PREBUILT } from "./prebuilt_embedded.ts";
import { libraryName, platformTag, type PrebuiltStamp } from "./prebuilt.ts";
import { SHIM_SOURCE, SHIM_SOURCE_SHA256 } from "./shim_source.ts";
import { ensurePrivateDir, openTrusted, ourUid, type TrustedFile } from "./trust.ts";

export { libraryName, platformTag, type PrebuiltStamp } from "./prebuilt.ts";

/** Compiler flags; part of the cache key. */
export const SHIM_CFLAGS: readonly string[] = ["-O2", "-shared", "-fPIC", "-std=c11", "-pthread", "-Wall"];

/** Reads an environment variable; under Deno a refusal throws (see permissions.ts). */
export type EnvReader = (name: string) => string | undefined;

/** The compiler arguments that build `src` into the library `out` (`extra` before the source). */
export function shimCompileArgs(src: string, out: string, extra: readonly string[] = []): string[] {
  // -z nodelete: the shim's thread-exit hook must stay loaded for as long as threads can exit.
  return [
    ...SHIM_CFLAGS,
    ...extra,
    "-o",
    out,
    src,
    ...(process.platform === "linux" ? ["-Wl,-z,nodelete", "-lrt"] : []),
  ];
}

/** The cache key: the source, the flags and the platform tag. */
export function shimCacheKey(): string {
  return createHash("sha256")
    .update(SHIM_SOURCE_SHA256)
    .update(SHIM_CFLAGS.join(" "))
    .update(platformTag())
    .digest("hex")
    .slice(0, 16);
}

/** File name of the cached library: names the platform tag, so mixed machines can be told apart. */
export function cachedLibraryName(): string {
  const ext = libraryName().split(".").pop();
  return `libmemstats_shim-${platformTag()}-${shimCacheKey()}.${ext}`;
}

/** The per-user cache directory, and whether it is the shared-`$TMPDIR` fallback. */
export function shimCacheDir(env: EnvReader): string {
  const xdg = env("XDG_CACHE_HOME");
  if (xdg && isAbsolute(xdg)) return join(xdg, "memstats-shm");
  const home = env("HOME");
  if (home && isAbsolute(home)) return join(home, ".cache", "memstats-shm");
  return join(tmpdir(), `memstats-shm-${ourUid() ?? "user"}`);
}

const CACHE_FIX = "set XDG_CACHE_HOME (or HOME) to a directory of yours, " +
  "or MEMSTATS_SHIM_PATH to a library you built";

/** One library (or TinyCC source) to try, opened and checked. */
export interface ShimCandidate {
  /** `library`: load with dlopen; `tinycc`: compile `loadPath` with `bun:ffi` `cc`. */
  readonly kind: "library" | "tinycc";
  /** Where it comes from, for messages: "MEMSTATS_SHIM_PATH", "prebuilt", "cache", ... */
  readonly origin: string;
  /** The checked, open file. */
  readonly file: TrustedFile;
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function stampMatches(stamp: PrebuiltStamp, tag: string): string | undefined {
  if (stamp.platform !== tag) return `built for ${stamp.platform}, this process is ${tag}`;
  if (stamp.sourceSha256 !== SHIM_SOURCE_SHA256) return "built from another version of the C source";
  return undefined;
}

/** The prebuilt library of the npm package for this tag, opened and verified; or why not. */
function packagedPrebuilt(tag: string): TrustedFile | string {
  const url = new URL(`../../native/prebuilt/${tag}/`, import.meta.url);
  if (url.protocol !== "file:") return "none next to this module"; // loaded from JSR or https
  const dir = fileURLToPath(url);
  const lib = join(dir, libraryName());
  if (!existsSync(lib)) return `none for ${tag}`;
  const stamp = JSON.parse(readText(join(dir, "build.json"))) as PrebuiltStamp;
  const mismatch = stampMatches(stamp, tag);
  if (mismatch) return `${lib}: ${mismatch}`;
  const file = openTrusted(lib, "the prebuilt shim", "reinstall the package, or " + CACHE_FIX);
  if (sha256(file.bytes()) !== stamp.libSha256) {
    file.close();
    return `${lib}: its bytes do not match its stamp (altered or corrupt)`;
  }
  return file;
}

function readText(path: string): string {
  const f = openTrusted(path, "the prebuilt stamp", "reinstall the package");
  try {
    return new TextDecoder().decode(f.bytes());
  } finally {
    f.close();
  }
}

/** Write `bytes` to `target` in our private `dir`: exclusive temp file, then rename (atomic). */
function writePrivate(dir: string, target: string, bytes: Uint8Array | string, mode: number): void {
  const tmp = join(dir, `.${target.slice(dir.length + 1)}.${process.pid}-${nonce()}.tmp`);
  try {
    writeFileSync(tmp, bytes, { flag: "wx", mode });
    chmodSync(tmp, mode); // the umask may have narrowed it; never widened
    renameSync(tmp, target);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function nonce(): string {
  return Math.random().toString(36).slice(2);
}

/** Whether starting the compiler failed because there is none (not because the build failed). */
function missingCompiler(e: unknown): boolean {
  return (e as { code?: string }).code === "ENOENT";
}

/**
 * Deno's node:child_process reports a refused `--allow-run` as a failed
 * command with no reason: ask first, and raise the refusal Deno would.
 */
function assertMayRun(cmd: string): void {
  const D = (globalThis as {
    Deno?: {
      permissions?: { querySync?(d: { name: string; command: string }): { state: string } };
      errors?: { NotCapable?: new (m: string) => Error };
    };
  }).Deno;
  const q = D?.permissions?.querySync;
  if (q === undefined || q({ name: "run", command: cmd }).state === "granted") return;
  const NotCapable = D?.errors?.NotCapable ?? Error;
  throw new NotCapable(`Requires run access to "${cmd}", run again with the --allow-run flag`);
}

/** ELF `e_machine` of the CPUs the shim is built for here, by `process.arch`. */
const ELF_MACHINE: Readonly<Record<string, number>> = { x64: 62, arm64: 183 };
const MACHINE_NAME: Readonly<Record<number, string>> = { 62: "x86-64", 183: "arm64", 3: "x86", 40: "arm" };

/**
 * Why the library at `path` cannot run in this process (it is built for
 * another CPU), or undefined. A compiler named by `CC` may be a cross
 * compiler; a library for another CPU fails to load with a misleading
 * "no such file".
 */
function wrongMachine(path: string): string | undefined {
  const want = ELF_MACHINE[process.arch];
  if (want === undefined || process.platform !== "linux") return undefined;
  const head = new Uint8Array(20);
  const fd = openSync(path, "r");
  try {
    readSync(fd, head, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  const machine = head[18] | (head[19] << 8);
  return machine === want ? undefined : `built for ${MACHINE_NAME[machine] ?? `ELF machine ${machine}`}, ` +
    `not for this ${MACHINE_NAME[want]} process`;
}

function compile(dir: string, target: string, cc: string): void {
  assertMayRun(cc);
  const id = `${process.pid}-${nonce()}`;
  const src = join(dir, `.memstats_shim-${id}.c`);
  const tmp = join(dir, `.${target.slice(dir.length + 1)}.${id}.tmp`);
  try {
    writeFileSync(src, SHIM_SOURCE, { flag: "wx", mode: 0o600 });
    execFileSync(cc, shimCompileArgs(src, tmp), { stdio: ["ignore", "pipe", "pipe"] });
    const wrong = wrongMachine(tmp);
    if (wrong) {
      throw new MemstatsError(
        "SHIM",
        `the shim built with CC=${cc} is ${wrong}; unset CC, or point it at a compiler for ${process.arch}`,
      );
    }
    chmodSync(tmp, 0o500); // gcc honours the umask, which may let the group write
    renameSync(tmp, target); // atomic: a concurrent loader sees all or nothing
  } finally {
    rmSync(src, { force: true });
    rmSync(tmp, { force: true });
  }
}

function errorText(e: unknown): string {
  if (e instanceof MemstatsError) return e.message;
  const err = e as { message?: string; stderr?: { toString(): string } };
  const stderr = err.stderr?.toString().trim();
  const text = stderr ? stderr : String(err.message ?? e);
  return text.split("\n").slice(0, 3).join(" ");
}

/** Whether this process may read `path` without a refusal (always, outside Deno). */
function mayRead(path: string): boolean {
  const perms = (globalThis as {
    Deno?: { permissions?: { querySync?(d: { name: string; path: string }): { state: string } } };
  }).Deno?.permissions;
  return perms?.querySync === undefined || perms.querySync({ name: "read", path }).state === "granted";
}

const UID_UNLESS_ROOT = "--allow-sys=uid (unless root owns the files)";

function need(needs: Set<string>, flags: readonly string[]): void {
  needs.clear();
  for (const f of flags) needs.add(f);
}

/**
 * Every shim to try for this process, best first, each opened and checked;
 * the caller loads the first that works and closes each it is given.
 * `notes` collects why a candidate was passed over, for the final error;
 * `needs` the Deno flags the steps taken so far need (for `PERMISSION`).
 */
export function* shimCandidates(
  env: EnvReader,
  runtime: "bun" | "deno" | "node",
  notes: string[],
  needs: Set<string> = new Set(),
): Generator<ShimCandidate, void, undefined> {
  const tag = platformTag();
  const url = new URL(`../../native/prebuilt/${tag}/`, import.meta.url);
  const packaged = url.protocol === "file:" ? fileURLToPath(url) : undefined;
  const CACHE_ENV = "--allow-env=MEMSTATS_SHIM_PATH,MEMSTATS_SHIM_PREBUILT,XDG_CACHE_HOME,HOME,TMPDIR";
  const cacheNeeds = (
    dir: string,
  ) => ["--allow-ffi", CACHE_ENV, "--allow-sys=uid", `--allow-read=${dir}`, `--allow-write=${dir}`];
  // What the likely way needs, named in full by the first refusal already: the npm package
  // carries its prebuilt libraries as files (and an empty embedded table), JSR embeds them.
  need(
    needs,
    packaged && !EMBEDDED_PREBUILT[tag]
      ? [
        "--allow-ffi",
        "--allow-env=MEMSTATS_SHIM_PATH,MEMSTATS_SHIM_PREBUILT",
        `--allow-read=${packaged}`,
        UID_UNLESS_ROOT,
      ]
      : cacheNeeds("<the cache directory: $XDG_CACHE_HOME/memstats-shm or ~/.cache/memstats-shm>"),
  );
  const override = env("MEMSTATS_SHIM_PATH");
  if (override) {
    if (!isAbsolute(override)) {
      throw new MemstatsError(
        "SHIM",
        `MEMSTATS_SHIM_PATH=${override} is not an absolute path; fix it or unset it`,
      );
    }
    need(needs, [
      "--allow-ffi",
      "--allow-env=MEMSTATS_SHIM_PATH",
      `--allow-read=${override}`,
      UID_UNLESS_ROOT,
    ]);
    let real: string;
    try {
      real = realpathSync(override);
    } catch (e) {
      if ((e as { code?: string }).code === undefined) throw e; // a Deno permission refusal
      throw new MemstatsError(
        "SHIM",
        `MEMSTATS_SHIM_PATH=${override} does not name an existing file (${errorText(e)}); fix it or unset it`,
      );
    }
    yield {
      kind: "library",
      origin: "MEMSTATS_SHIM_PATH",
      file: openTrusted(real, "MEMSTATS_SHIM_PATH", "point MEMSTATS_SHIM_PATH at a library you or root own"),
    };
    return;
  }

  const usePrebuilt = env("MEMSTATS_SHIM_PREBUILT") !== "0";
  // A JSR package run from files (no native/ directory) is not made to ask for reading one.
  if (usePrebuilt && !(EMBEDDED_PREBUILT[tag] && packaged && !mayRead(packaged))) {
    const p = packagedPrebuilt(tag);
    if (typeof p === "string") notes.push(`prebuilt: ${p}`);
    else yield { kind: "library", origin: "prebuilt", file: p };
  } else {
    notes.push("prebuilt: skipped (MEMSTATS_SHIM_PREBUILT=0)");
  }

  need(needs, cacheNeeds("<the cache directory>"));
  const dir = shimCacheDir(env);
  need(needs, cacheNeeds(dir));
  const target = join(dir, cachedLibraryName());
  const home = env("XDG_CACHE_HOME") || env("HOME");
  ensurePrivateDir(dir, home !== undefined && home !== "", CACHE_FIX);
  if (existsSync(target)) {
    // A library another CPU's compiler left here (an earlier CC pointing at a cross compiler) is rebuilt.
    const wrong = mayRead(target) ? wrongMachine(target) : undefined;
    if (wrong) {
      notes.push(`cache: ${target} is ${wrong}; rebuilding it`);
      rmSync(target, { force: true });
    } else {
      yield { kind: "library", origin: "cache", file: openTrusted(target, "the cached shim", CACHE_FIX) };
    }
  }

  const embedded = usePrebuilt ? EMBEDDED_PREBUILT[tag] : undefined;
  if (embedded) {
    const mismatch = stampMatches(embedded, tag);
    const bytes = mismatch ? undefined : new Uint8Array(gunzipSync(base64(embedded.gzipBase64)));
    if (mismatch) notes.push(`embedded prebuilt: ${mismatch}`);
    else if (sha256(bytes!) !== embedded.libSha256) {
      notes.push("embedded prebuilt: bytes do not match its stamp");
    } else {
      writePrivate(dir, target, bytes!, 0o500);
      yield {
        kind: "library",
        origin: "embedded prebuilt",
        file: openTrusted(target, "the cached shim", CACHE_FIX),
      };
    }
  } else if (usePrebuilt) {
    notes.push(`embedded prebuilt: none for ${tag}`);
  }

  const ccEnv = env("CC");
  const cc = ccEnv || "cc";
  // Starting a process reads the whole environment.
  need(needs, [...cacheNeeds(dir).filter((f) => f !== CACHE_ENV), "--allow-env", `--allow-run=${cc}`]);
  let compiled = false;
  try {
    compile(dir, target, cc);
    compiled = true;
  } catch (e) {
    if (e instanceof MemstatsError) throw e;
    if ((e as { code?: string }).code === undefined && !(e as { stderr?: unknown }).stderr) {
      throw e; // not a failed build: a Deno permission refusal, converted by the caller
    }
    notes.push(
      missingCompiler(e)
        ? `compiler: ${cc} not found${ccEnv ? " (CC is set)" : ""}`
        : `compiler: ${cc} failed: ${errorText(e)}`,
    );
  }
  if (compiled) {
    yield {
      kind: "library",
      origin: `built with ${cc}`,
      file: openTrusted(target, "the cached shim", CACHE_FIX),
    };
  }

  if (runtime === "bun" && !ccEnv) {
    if (process.arch !== "x64") {
      notes.push(
        "TinyCC: Bun's built-in compiler is used on x86-64 only (its arm64 backend has no inline assembler for the fences)",
      );
      return;
    }
    const src = join(dir, `memstats_shim-${SHIM_SOURCE_SHA256.slice(0, 16)}.c`);
    if (!existsSync(src)) writePrivate(dir, src, SHIM_SOURCE, 0o400);
    yield {
      kind: "tinycc",
      origin: "Bun's TinyCC",
      file: openTrusted(src, "the cached shim source", CACHE_FIX),
    };
  }
}

function base64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
