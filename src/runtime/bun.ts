/**
 * Bun's runtime services: `process` for environment, exit hooks and
 * signals, `bun:jsc` for this VM's heap, `Bun.serve` for HTTP.
 *
 * @module
 */
import { listenError } from "./listen.ts";
import { type NodeStyleProcess, processServices } from "./process.ts";
import type { HttpHandler, HttpServeOptions, HttpServer, Runtime, RuntimeMemory } from "./types.ts";

// Only the parts of Bun's globals used here, so the module type-checks under Deno and tsc.
interface BunGlobal {
  isMainThread: boolean;
  gc(force: boolean): void;
  serve(options: {
    hostname: string;
    port: number;
    fetch(request: Request): Response | Promise<Response>;
    error(e: unknown): Response;
  }): { port: number; stop(closeActiveConnections?: boolean): Promise<void> | void };
}
interface BunProcess extends NodeStyleProcess {
  memoryUsage: { rss(): number };
}
// bun:jsc's figures for this thread's VM; process.memoryUsage()'s heap
// figures are not per Worker in Bun and miss external memory.
interface BunJsc {
  heapStats(): { heapSize: number; heapCapacity: number; extraMemorySize: number };
}

/** The services of the running Bun thread. */
export function bunRuntime(): Runtime {
  const B = (globalThis as unknown as { Bun: BunGlobal }).Bun;
  const proc = (globalThis as unknown as { process: BunProcess }).process;
  let jsc: BunJsc | undefined;
  return {
    name: "bun",
    isMainThread: B.isMainThread,
    ...processServices(proc),
    collectGarbage(): void {
      B.gc(true);
    },
    memoryUsage(): RuntimeMemory {
      jsc ??= (import.meta as unknown as { require(id: string): BunJsc }).require("bun:jsc");
      const h = jsc.heapStats();
      return {
        rss: proc.memoryUsage.rss(),
        heapUsed: h.heapSize,
        heapTotal: h.heapCapacity,
        external: h.extraMemorySize,
      };
    },
    // deno-lint-ignore require-await
    async serveHttp(options: HttpServeOptions, handler: HttpHandler): Promise<HttpServer> {
      let server: ReturnType<BunGlobal["serve"]>;
      try {
        server = B.serve({
          hostname: options.hostname,
          port: options.port,
          fetch: (request) => handler(request),
          error: () => new Response("internal error\n", { status: 500 }),
        });
      } catch (e) {
        throw listenError(e, options);
      }
      return {
        port: server.port,
        async close() {
          await server.stop(true); // also ends idle keep-alive connections
        },
      };
    },
  };
}
