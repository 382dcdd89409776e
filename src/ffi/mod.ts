/**
 * Loads the native shim once per JS thread (each Worker has its own isolate
 * and its own copy of the bindings; the library itself is loaded once per
 * process) with the loader of the running runtime.
 *
 * @module
 */
import { MemstatsError } from "../errors.ts";
import { runtime } from "../runtime/mod.ts";
import { loadBun } from "./bun.ts";
import { loadDeno } from "./deno.ts";
import { locateShim } from "./locate.ts";
import { loadNode, nodeFfi } from "./node.ts";
import { SHIM_ABI } from "./symbols.ts";
import type { NativeShim } from "./types.ts";

export type { NativeShim } from "./types.ts";
export { OpenKind } from "./types.ts";
export { SHIM_ABI } from "./symbols.ts";

let loaded: NativeShim | undefined;

/** The native shim for this JS thread, loading (or building) it on first use. */
export function shim(): NativeShim {
  if (loaded) return loaded;
  const rt = runtime();
  if (rt.name === "node") nodeFfi(); // says which Node.js and flags are needed before anything is built
  const path = locateShim((name) => rt.env(name));
  let lib: NativeShim;
  try {
    lib = rt.name === "bun" ? loadBun(path) : rt.name === "deno" ? loadDeno(path) : loadNode(path);
  } catch (e) {
    if (e instanceof MemstatsError) throw e;
    throw new MemstatsError(
      "SHIM",
      `cannot load the native shim ${path}: ${(e as Error).message}. ` +
        `Under Deno grant --allow-ffi, under Node.js --allow-ffi with --permission; ` +
        `otherwise delete the file so it is rebuilt, or point MEMSTATS_SHIM_PATH at a good build`,
    );
  }
  const abi = lib.ms_abi();
  if (abi !== SHIM_ABI) {
    throw new MemstatsError(
      "SHIM",
      `the native shim ${path} has ABI ${abi}, this code needs ${SHIM_ABI}; delete it so it is rebuilt, ` +
        `or point MEMSTATS_SHIM_PATH at a build of this version's native/memstats_shim.c`,
    );
  }
  loaded = lib;
  return lib;
}
