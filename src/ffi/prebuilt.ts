/**
 * Prebuilt shims: which one this process can load (platform, CPU and C
 * library), and how each is stamped. `scripts/build_prebuilt.ts` builds them
 * all from `native/memstats_shim.c` into `native/prebuilt/<tag>/` (the npm
 * package carries those files) and into `prebuilt_embedded.ts` (the JSR
 * package carries that module, written to the per-user cache on first use).
 * A library is used only when its stamp names this exact source and its
 * bytes hash to the stamp's `libSha256`.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";

/** What `scripts/build_prebuilt.ts` records next to each prebuilt library. */
export interface PrebuiltStamp {
  /** SHA-256 of the C source it was built from. */
  readonly sourceSha256: string;
  /** SHA-256 of the library file itself. */
  readonly libSha256: string;
  /** Its {@linkcode platformTag}: `linux-x64-glibc`, ... */
  readonly platform: string;
  /** The compiler and version that built it, for people. */
  readonly compiler?: string;
}

/** A prebuilt library carried inside a module (the JSR package). */
export interface EmbeddedPrebuilt extends PrebuiltStamp {
  /** The library's bytes, gzip-compressed, base64. */
  readonly gzipBase64: string;
}

/** The C library of this process: the one a native library must be linked against. */
export type Libc = "glibc" | "musl";

let libcCache: Libc | undefined;

/**
 * The C library this process runs on (Linux only). Deno says so in
 * `Deno.build.env`; elsewhere the dynamic loader mapped into this process
 * tells (`ld-musl-*` or `libc.musl-*` for musl). glibc when nothing says musl.
 */
export function detectLibc(): Libc {
  if (libcCache) return libcCache;
  const deno = (globalThis as { Deno?: { build?: { env?: string } } }).Deno;
  if (deno?.build?.env !== undefined) {
    libcCache = deno.build.env === "musl" ? "musl" : "glibc";
    return libcCache;
  }
  try {
    const maps = readFileSync("/proc/self/maps", "utf8");
    libcCache = /\/(ld-musl-[^/\s]*|libc\.musl-[^/\s]*)$/m.test(maps) ? "musl" : "glibc";
  } catch {
    libcCache = "glibc"; // no /proc: not Linux, or a very unusual sandbox
  }
  return libcCache;
}

/**
 * Names one loadable kind of library: `linux-x64-glibc`, `linux-arm64-musl`,
 * `darwin-arm64`. Two processes with different tags never share a library,
 * in the package or in the cache.
 */
export function platformTag(): string {
  const base = `${process.platform}-${process.arch}`;
  return process.platform === "linux" ? `${base}-${detectLibc()}` : base;
}

/** The tags `scripts/build_prebuilt.ts` builds, and both packages carry. */
export const PREBUILT_TAGS: readonly string[] = [
  "linux-x64-glibc",
  "linux-x64-musl",
  "linux-arm64-glibc",
  "linux-arm64-musl",
];

/** File name of the shim library on this platform. */
export function libraryName(): string {
  return `libmemstats_shim.${process.platform === "darwin" ? "dylib" : "so"}`;
}
