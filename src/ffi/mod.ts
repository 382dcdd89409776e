/**
 * Loads the native shim once per JS thread (each Worker has its own isolate
 * and its own copy of the bindings; the library itself is loaded once per
 * process) with the loader of the running runtime: the first candidate of
 * `locate.ts` that loads and has this code's ABI wins.
 *
 * @module
 */
import { MemstatsError } from "../errors.ts";
import { runtime } from "../runtime/mod.ts";
import { loadBun } from "./bun.ts";
import { denoEnv, loadDeno } from "./deno.ts";
import { type EnvReader, type ShimCandidate, shimCandidates } from "./locate.ts";
import { loadNode, nodeFfi } from "./node.ts";
import { isDenoPermissionError, permissionError } from "./permissions.ts";
import { SHIM_ABI } from "./symbols.ts";
import type { NativeShim } from "./types.ts";

export type { NativeShim } from "./types.ts";
export { OpenKind } from "./types.ts";
export { SHIM_ABI } from "./symbols.ts";

let loaded: NativeShim | undefined;

function load(c: ShimCandidate, rt: "bun" | "deno" | "node"): NativeShim {
  if (rt === "bun") return loadBun(c.file.loadPath, c.kind === "tinycc");
  if (c.kind === "tinycc") throw new Error("TinyCC is Bun's");
  return rt === "deno" ? loadDeno(c.file.loadPath) : loadNode(c.file.loadPath);
}

/** The native shim for this JS thread, loading (or building) it on first use. */
export function shim(): NativeShim {
  if (loaded) return loaded;
  const rt = runtime();
  if (rt.name === "node") nodeFfi(); // says which Node.js and flags are needed before anything is built
  const env: EnvReader = rt.name === "deno" ? denoEnv : (name) => rt.env(name);
  const notes: string[] = [];
  const needs = new Set<string>();
  try {
    for (const c of shimCandidates(env, rt.name, notes, needs)) {
      let lib: NativeShim;
      try {
        lib = { ...load(c, rt.name), path: c.file.path };
      } catch (e) {
        if (c.origin === "MEMSTATS_SHIM_PATH" || !(e instanceof Error) || isDenoPermissionError(e)) throw e;
        notes.push(`${c.origin}: ${c.file.path} does not load (${e.message.split("\n")[0]})`);
        continue;
      } finally {
        c.file.close();
      }
      const abi = lib.ms_abi();
      if (abi === SHIM_ABI) {
        loaded = lib;
        return lib;
      }
      const why = `${c.file.path} has ABI ${abi}, this code needs ${SHIM_ABI}`;
      if (c.origin === "MEMSTATS_SHIM_PATH") {
        throw new MemstatsError(
          "SHIM",
          `the native shim ${why}; point MEMSTATS_SHIM_PATH at a build of this version's native/memstats_shim.c`,
        );
      }
      notes.push(`${c.origin}: ${why}`);
    }
  } catch (e) {
    const p = permissionError(
      e,
      "loading the native shim",
      [...needs],
    );
    if (p instanceof MemstatsError) throw p;
    throw new MemstatsError("SHIM", `cannot load the native shim: ${(e as Error).message ?? e}`);
  }
  throw new MemstatsError(
    "SHIM",
    `no native shim could be found or built (${notes.join("; ")}); install a C compiler (or set CC), ` +
      `or build native/memstats_shim.c yourself and set MEMSTATS_SHIM_PATH to the library's absolute path`,
  );
}
