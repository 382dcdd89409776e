/**
 * Bun loader: `bun:ffi` `dlopen` over the shim, and `toArrayBuffer` for
 * mappings. `toArrayBuffer(ptr, 0, len)` borrows the memory; `toBuffer` is
 * never used because it may free what it wraps.
 *
 * @module
 */
import { type ArgConversions, bindSymbols, SYMBOLS } from "./symbols.ts";
import type { NativeShim } from "./types.ts";

// Only the parts of bun:ffi used here, so the module type-checks under Deno and tsc.
interface BunFfi {
  dlopen(path: string, symbols: Record<string, { args: string[]; returns: string }>): {
    symbols: Record<string, (...args: unknown[]) => unknown>;
  };
  cc(options: { source: string; symbols: Record<string, { args: string[]; returns: string }> }): {
    symbols: Record<string, (...args: unknown[]) => unknown>;
  };
  toArrayBuffer(ptr: number, byteOffset: number, byteLength: number): ArrayBuffer;
}

// Code compiled by TinyCC lives as long as the object `cc` returns: the shim's exit hooks point into
// it, so every compiled copy is kept for the life of the thread.
const compiled: unknown[] = [];

/**
 * Bun 1.4's bindings for `cc` pass 0 for an `i32`/`u32` argument held as a
 * double (a number read from a Float64Array, say), where `dlopen`'s convert
 * it: such arguments are made integers first (`| 0`; modes are small, so
 * `>>> 0` stays an integer too).
 */
const TINYCC_INTEGERS: ArgConversions = {
  i32: (v: number) => v | 0,
  u32: (v: number) => v >>> 0,
};

/**
 * Load the shim at `path` into this Bun thread; with `tinycc`, compile the C
 * source at `path` with `bun:ffi`'s built-in TinyCC instead.
 */
export function loadBun(path: string, tinycc = false): NativeShim {
  // Synchronous import, so opening a registry never needs `await`.
  const ffi = (import.meta as unknown as { require(id: string): BunFfi }).require("bun:ffi");
  const defs = Object.fromEntries(
    Object.entries(SYMBOLS).map(([name, s]) => [
      name,
      { args: s.args.map((t) => (t === "buffer" || t === "cstring" ? "ptr" : t)), returns: s.result },
    ]),
  );
  const lib = tinycc ? ffi.cc({ source: path, symbols: defs }) : ffi.dlopen(path, defs);
  if (tinycc) compiled.push(lib);
  return {
    path,
    ...bindSymbols(lib.symbols, tinycc ? TINYCC_INTEGERS : {}),
    arrayBuffer: (address, length) => ffi.toArrayBuffer(address, 0, length),
  };
}
