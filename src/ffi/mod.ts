/**
 * Picks the loader for the running runtime and loads the shim once per JS
 * thread (each Worker has its own isolate and loads its own copy).
 *
 * @module
 */
import { MemstatsError } from "../errors.ts";
import { loadBun } from "./bun.ts";
import { loadDeno } from "./deno.ts";
import { locateShim } from "./locate.ts";
import type { Platform } from "./types.ts";

export type { Mapping, Platform, Shim } from "./types.ts";
export { OpenKind } from "./types.ts";

/** The shim ABI this code was written against; `ms_abi()` must return it. */
export const SHIM_ABI = 1;

let loaded: Platform | undefined;

function bootstrapEnv(name: string): string | undefined {
  const g = globalThis as unknown as {
    Deno?: { env: { get(n: string): string | undefined } };
    process?: { env: Record<string, string | undefined> };
  };
  try {
    return g.Deno ? g.Deno.env.get(name) : g.process?.env[name];
  } catch {
    return undefined;
  }
}

/** The platform for this JS thread, loading the shim on first use. */
export function platform(): Platform {
  if (loaded) return loaded;
  const g = globalThis as Record<string, unknown>;
  const load = g.Bun ? loadBun : g.Deno ? loadDeno : undefined;
  if (!load) {
    throw new MemstatsError("SHIM", "memstats-shm needs Bun or Deno (their FFI); this runtime has neither");
  }
  const path = locateShim(bootstrapEnv);
  try {
    loaded = load(path, SHIM_ABI);
  } catch (e) {
    throw new MemstatsError(
      "SHIM",
      `cannot load the native shim ${path}: ${(e as Error).message}. ` +
        `Under Deno grant --allow-ffi; otherwise delete the file so it is rebuilt, or point MEMSTATS_SHIM_PATH at a good build`,
    );
  }
  return loaded;
}

/** Unload the shim (tests); every registry of this thread must be closed first. */
export function unloadPlatform(): void {
  loaded?.unload();
  loaded = undefined;
}
