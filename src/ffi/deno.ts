/**
 * Deno loader: `Deno.dlopen` over the shim, `UnsafePointerView.getArrayBuffer`
 * for mappings. Needs `--allow-ffi` (unscoped: the pointer view requires it).
 *
 * @module
 */
import { bindSymbols, SYMBOLS } from "./symbols.ts";
import type { NativeShim } from "./types.ts";

// Only the parts of the Deno namespace used here, so `tsc` builds without Deno's types.
type PointerObject = object;
interface DenoFfi {
  env: { get(name: string): string | undefined };
  dlopen(path: string, symbols: Record<string, { parameters: string[]; result: string }>): {
    symbols: Record<string, (...args: unknown[]) => unknown>;
  };
  UnsafePointer: { create(value: bigint): PointerObject | null };
  UnsafePointerView: { getArrayBuffer(p: PointerObject, len: number): ArrayBuffer };
}

/** Load the shim at `path` into this Deno isolate. */
export function loadDeno(path: string): NativeShim {
  const D = (globalThis as unknown as { Deno: DenoFfi }).Deno;
  const defs = Object.fromEntries(
    Object.entries(SYMBOLS).map(([name, s]) => [
      name,
      { parameters: s.args.map((t) => (t === "cstring" ? "buffer" : t)), result: s.result },
    ]),
  );
  const lib = D.dlopen(path, defs);
  return {
    path,
    ...bindSymbols(lib.symbols),
    arrayBuffer(address, length) {
      const p = D.UnsafePointer.create(BigInt(address));
      if (p === null) throw new RangeError("null address");
      return D.UnsafePointerView.getArrayBuffer(p, length);
    },
  };
}

/**
 * An environment variable, or undefined when unset. Unlike the runtime's
 * `env()`, a refusal is not hidden: it throws Deno's `NotCapable`, which the
 * loader turns into a `PERMISSION` error naming `--allow-env=NAME`.
 */
export function denoEnv(name: string): string | undefined {
  return (globalThis as unknown as { Deno: DenoFfi }).Deno.env.get(name);
}
