/**
 * The running runtime's services, detected once per JS thread.
 *
 * @module
 */
import { MemstatsError } from "../errors.ts";
import { bunRuntime } from "./bun.ts";
import { denoRuntime } from "./deno.ts";
import { nodeRuntime } from "./node.ts";
import type { Runtime } from "./types.ts";

export type {
  DiagnosticSignal,
  HttpHandler,
  HttpServeOptions,
  HttpServer,
  ListenErrorCode,
  Runtime,
  RuntimeMemory,
} from "./types.ts";

let current: Runtime | undefined;

/** Which runtime runs this code, without loading anything. */
export function runtimeName(): Runtime["name"] | undefined {
  const g = globalThis as Record<string, unknown>;
  if (g.Bun) return "bun";
  if (g.Deno) return "deno";
  // Bun and Deno also set process.versions.node, so Node is the runtime left over.
  if (typeof (g.process as { versions?: { node?: unknown } } | undefined)?.versions?.node === "string") {
    return "node";
  }
  return undefined;
}

/** The services of the runtime running this JS thread. */
export function runtime(): Runtime {
  if (current) return current;
  const name = runtimeName();
  if (name === "bun") current = bunRuntime();
  else if (name === "deno") current = denoRuntime();
  else if (name === "node") current = nodeRuntime();
  else {
    throw new MemstatsError(
      "SHIM",
      "memstats-shm needs Bun, Deno or Node.js 26+ (their FFI); this runtime is none of them",
    );
  }
  return current;
}
