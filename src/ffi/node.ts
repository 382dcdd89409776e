/**
 * Node.js loader: `node:ffi` `dlopen` over the shim, and its zero-copy
 * `toArrayBuffer(pointer, length, false)` for mappings, checked to be a view
 * of the mapping and not a copy (docs/SECURITY.md). Needs Node.js 26 or
 * newer with FFI enabled (the default; `--no-experimental-ffi` disables it,
 * and under the permission model `--allow-ffi` must be granted).
 *
 * `node:ffi` is loaded with `process.getBuiltinModule`, so opening a registry
 * never needs `await`, and Bun and Deno, which have no `node:ffi`, never
 * resolve it. Node prints an `ExperimentalWarning` the first time a thread
 * loads `node:ffi`; that one warning is withheld (every worker of a cluster
 * would print it on every start), and no other warning is touched.
 *
 * @module
 */
import { MemstatsError } from "../errors.ts";
import { bindSymbols, SYMBOLS } from "./symbols.ts";
import type { NativeShim } from "./types.ts";

/** The first Node.js major with `node:ffi`. */
export const NODE_FFI_MAJOR = 26;

// Only the parts of node:ffi and process used here, so the module type-checks under Deno and tsc.
interface NodeFfi {
  dlopen(path: string, definitions: Record<string, { arguments: string[]; return: string }>): {
    functions: Record<string, (...args: unknown[]) => unknown>;
  };
  toArrayBuffer(pointer: bigint, length: number, copy?: boolean): ArrayBuffer;
  getRawPointer(source: ArrayBuffer): bigint;
}
interface NodeProcess {
  versions: { node: string };
  execArgv: string[];
  env: Record<string, string | undefined>;
  permission?: { has(scope: string): boolean };
  getBuiltinModule?(id: string): unknown;
  emitWarning(warning: string | Error, ...rest: unknown[]): void;
}

function proc(): NodeProcess {
  return (globalThis as unknown as { process: NodeProcess }).process;
}

/** Whether an `emitWarning` call is Node's warning that FFI is experimental. */
function isFfiWarning(warning: string | Error, rest: unknown[]): boolean {
  const text = typeof warning === "string" ? warning : warning.message;
  const type = typeof warning !== "string"
    ? warning.name
    : typeof rest[0] === "string"
    ? rest[0]
    : (rest[0] as { type?: string } | undefined)?.type;
  return type === "ExperimentalWarning" && /\bFFI\b/.test(text);
}

/** `node:ffi` with its experimental warning withheld; undefined when this Node has none or it is disabled. */
function importFfi(p: NodeProcess): NodeFfi | undefined {
  if (typeof p.getBuiltinModule !== "function") return undefined; // before Node 20.16
  const emit = p.emitWarning;
  p.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    if (!isFfiWarning(warning, rest)) emit.call(this, warning, ...rest);
  };
  try {
    return p.getBuiltinModule("node:ffi") as NodeFfi | undefined;
  } finally {
    p.emitWarning = emit;
  }
}

let ffi: NodeFfi | undefined;

/**
 * `node:ffi`, or a `MemstatsError` saying which Node.js version and flags
 * memstats-shm needs: `SHIM` when this Node has no FFI (too old, or
 * `--no-experimental-ffi`), `PERMISSION` when the permission model is on
 * without `--allow-ffi`. Called before the shim is looked for or built.
 */
export function nodeFfi(): NodeFfi {
  if (ffi) return ffi;
  const p = proc();
  const version = p.versions.node;
  const major = Number(version.split(".")[0]);
  const loaded = major >= NODE_FFI_MAJOR ? importFfi(p) : undefined;
  if (loaded === undefined) {
    throw new MemstatsError(
      "SHIM",
      major < NODE_FFI_MAJOR
        ? `memstats-shm needs Node.js ${NODE_FFI_MAJOR} or newer (node:ffi); this is Node.js ${version}: ` +
          `upgrade Node.js, or run under Bun or Deno`
        : `memstats-shm needs node:ffi (Node.js ${NODE_FFI_MAJOR} or newer), which this Node.js ${version} process ` +
          `has switched off with --no-experimental-ffi: remove that flag from the command line and NODE_OPTIONS`,
    );
  }
  if (p.permission && !p.permission.has("ffi")) {
    throw new MemstatsError(
      "PERMISSION",
      `the Node.js permission model is on and denies FFI: add --allow-ffi (memstats-shm calls its native ` +
        `shim through node:ffi, Node.js ${NODE_FFI_MAJOR} or newer)`,
    );
  }
  ffi = loaded;
  return loaded;
}

/**
 * A typed array as a `pointer` argument (the address of its bytes), not a
 * `buffer` one. node:ffi holds something for each `buffer` argument until
 * the event loop turns: a million reads in one synchronous loop (a
 * benchmark, a busy worker) held ~30 MB and made every later scavenge
 * slower. A pointer argument holds nothing. The array stays referenced by
 * the call, and V8 never moves an ArrayBuffer's bytes once they are off the
 * heap (`getRawPointer` puts them there).
 */
function pointerConversion(f: NodeFfi): (bytes: ArrayBufferView) => bigint {
  // The last buffer's address: nearly every call passes a reader's one request block.
  let lastBuffer: ArrayBufferLike | undefined;
  let lastAddress = 0n;
  return (v) => {
    const b = v.buffer;
    if (b !== lastBuffer) {
      lastAddress = f.getRawPointer(b as ArrayBuffer);
      lastBuffer = b;
    }
    return v.byteOffset === 0 ? lastAddress : lastAddress + BigInt(v.byteOffset);
  };
}

/** Load the shim at `path` into this Node.js thread (main thread or `worker_threads` Worker). */
export function loadNode(path: string): NativeShim {
  const f = nodeFfi();
  const defs = Object.fromEntries(
    Object.entries(SYMBOLS).map(([name, s]) => [
      name,
      { arguments: s.args.map((t) => (t === "cstring" || t === "buffer" ? "pointer" : t)), return: s.result },
    ]),
  );
  const lib = f.dlopen(path, defs);
  const pointer = pointerConversion(f);
  return {
    path,
    ...bindSymbols(lib.functions, { buffer: pointer, cstring: pointer }),
    arrayBuffer(address, length) {
      const at = BigInt(address);
      const view = f.toArrayBuffer(at, length, false);
      // A Node built with V8's memory sandbox may copy external memory instead of wrapping it
      // (nodejs/node#58376); a copy of a shared table would take writes nobody sees.
      if (f.getRawPointer(view) !== at) {
        throw new MemstatsError(
          "SHIM",
          `this Node.js ${proc().versions.node} gives a copy of shared memory, not a view of it (a V8 memory ` +
            `sandbox build?); memstats-shm cannot work over a copy: run under Bun or Deno, or a Node.js without the sandbox`,
        );
      }
      return view;
    },
  };
}
