/**
 * Deno's runtime services: `Deno.env`, the `unload` event for exit hooks,
 * signal listeners, `Deno.memoryUsage()` and `Deno.serve`.
 *
 * @module
 */
import { listenError } from "./listen.ts";
import type {
  DiagnosticSignal,
  HttpHandler,
  HttpServeOptions,
  HttpServer,
  Runtime,
  RuntimeMemory,
} from "./types.ts";

// Only the parts of the Deno namespace used here, so `tsc` builds without Deno's types.
interface DenoGlobal {
  env: { get(name: string): string | undefined };
  unrefTimer(id: number): void;
  memoryUsage(): RuntimeMemory;
  addSignalListener(signal: string, fn: () => void): void;
  removeSignalListener(signal: string, fn: () => void): void;
  serve(
    options: {
      hostname: string;
      port: number;
      onListen(addr: unknown): void;
      onError(e: unknown): Response | Promise<Response>;
    },
    handler: (request: Request) => Response | Promise<Response>,
  ): { addr: { port: number }; finished: Promise<void>; shutdown(): Promise<void> };
}

/** The services of the running Deno isolate (main thread or Worker). */
export function denoRuntime(): Runtime {
  const g = globalThis as unknown as { Deno: DenoGlobal; WorkerGlobalScope?: new () => unknown };
  const D = g.Deno;
  // Registered now, before any registry's exit hook: EventTarget cannot prepend.
  const exitFirst: (() => void)[] = [];
  globalThis.addEventListener("unload", () => {
    for (const fn of exitFirst.splice(0)) fn();
  });
  return {
    name: "deno",
    isMainThread: g.WorkerGlobalScope === undefined || !(globalThis instanceof g.WorkerGlobalScope),
    env(name) {
      try {
        return D.env.get(name);
      } catch {
        return undefined; // --allow-env not granted for this name
      }
    },
    onExit(fn) {
      globalThis.addEventListener("unload", fn);
    },
    onExitFirst(fn) {
      exitFirst.push(fn);
    },
    unrefInterval(fn, ms) {
      const id = setInterval(fn, ms);
      D.unrefTimer(id as unknown as number);
      return () => clearInterval(id);
    },
    memoryUsage: () => D.memoryUsage(),
    onSignal(signal: DiagnosticSignal, fn: () => void) {
      D.addSignalListener(signal, fn); // Deno's signal listeners do not hold the event loop open
      return () => D.removeSignalListener(signal, fn);
    },
    // deno-lint-ignore require-await
    async serveHttp(options: HttpServeOptions, handler: HttpHandler): Promise<HttpServer> {
      let server: ReturnType<DenoGlobal["serve"]>;
      try {
        server = D.serve({
          hostname: options.hostname,
          port: options.port,
          onListen() {}, // no "Listening on" line: the caller says where it listens
          onError: () => new Response("internal error\n", { status: 500 }),
        }, handler);
      } catch (e) {
        throw listenError(e, options);
      }
      return {
        port: server.addr.port,
        async close() {
          await server.shutdown();
          await server.finished;
        },
      };
    },
  };
}
