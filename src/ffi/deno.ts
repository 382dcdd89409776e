/**
 * Deno loader: `Deno.dlopen` over the shim, `UnsafePointerView.getArrayBuffer`
 * for mappings. Needs `--allow-ffi` (unscoped: the pointer view requires it)
 * and `--allow-env`, plus `--allow-read --allow-write --allow-run` the first
 * time the shim is compiled.
 *
 * @module
 */
import { listenError } from "./listen.ts";
import type {
  DiagnosticSignal,
  HttpHandler,
  HttpServeOptions,
  HttpServer,
  Mapping,
  OpenKind,
  Platform,
  RuntimeMemory,
  Shim,
} from "./types.ts";

// Only the parts of the Deno namespace used here, so `tsc` builds without Deno's types.
type PointerObject = object;
interface DenoFfi {
  dlopen(path: string, symbols: Record<string, unknown>): {
    symbols: Record<string, (...args: unknown[]) => unknown>;
    close(): void;
  };
  UnsafePointerView: { getArrayBuffer(p: PointerObject, len: number): ArrayBuffer };
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

const SYMBOLS = {
  ms_abi: { parameters: [], result: "i32" },
  ms_open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  ms_fstat: { parameters: ["i32", "buffer"], result: "i32" },
  ms_ftruncate: { parameters: ["i32", "f64"], result: "i32" },
  ms_fchmod: { parameters: ["i32", "u32"], result: "i32" },
  ms_map: { parameters: ["i32", "f64", "i32", "buffer"], result: "pointer" },
  ms_unmap: { parameters: ["pointer", "f64"], result: "i32" },
  ms_close: { parameters: ["i32"], result: "i32" },
  ms_unlink: { parameters: ["buffer"], result: "i32" },
  ms_getpid: { parameters: [], result: "i32" },
  ms_gettid: { parameters: [], result: "i32" },
  ms_geteuid: { parameters: [], result: "u32" },
  ms_thread_start: { parameters: ["i32", "i32"], result: "f64" },
  ms_pid_namespace: { parameters: [], result: "f64" },
  ms_sleep_ms: { parameters: ["f64"], result: "void" },
} as const;

interface DenoMapping extends Mapping {
  readonly pointer: PointerObject;
}

const encoder = new TextEncoder();
function cString(s: string): Uint8Array {
  return encoder.encode(s + "\0");
}

/** Load the shim at `path` into this Deno isolate. */
export function loadDeno(path: string, expectedAbi: number): Platform {
  const D = (globalThis as unknown as { Deno: DenoFfi }).Deno;
  const lib = D.dlopen(path, SYMBOLS);
  const f = lib.symbols;
  const abi = f.ms_abi() as number;
  if (abi !== expectedAbi) {
    lib.close();
    throw new Error(`shim ABI ${abi}, expected ${expectedAbi}`);
  }
  // Registered now, before any registry's exit hook: EventTarget cannot prepend.
  const exitFirst: (() => void)[] = [];
  globalThis.addEventListener("unload", () => {
    for (const fn of exitFirst.splice(0)) fn();
  });
  const err = new Int32Array(1);
  const shim: Shim = {
    path,
    open: (name: string, kind: OpenKind, mode: number) => f.ms_open(cString(name), kind, mode) as number,
    fstat: (fd, out) => f.ms_fstat(fd, out) as number,
    ftruncate: (fd, size) => f.ms_ftruncate(fd, size) as number,
    fchmod: (fd, mode) => f.ms_fchmod(fd, mode) as number,
    map(fd, length, readOnly): Mapping | number {
      const p = f.ms_map(fd, length, readOnly ? 1 : 0, err) as PointerObject | null;
      if (p === null) return err[0];
      const buffer = D.UnsafePointerView.getArrayBuffer(p, length);
      const m: DenoMapping = { buffer, length, pointer: p };
      return m;
    },
    unmap: (m) => f.ms_unmap((m as DenoMapping).pointer, m.length) as number,
    close: (fd) => f.ms_close(fd) as number,
    unlink: (name) => f.ms_unlink(cString(name)) as number,
    pid: () => f.ms_getpid() as number,
    tid: () => f.ms_gettid() as number,
    euid: () => f.ms_geteuid() as number,
    threadStart: (pid, tid) => f.ms_thread_start(pid, tid) as number,
    pidNamespace: () => f.ms_pid_namespace() as number,
    sleepMs: (ms) => void f.ms_sleep_ms(ms),
  };
  return {
    runtime: "deno",
    shim,
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
    unrefInterval(fn, ms) {
      const id = setInterval(fn, ms);
      D.unrefTimer(id as unknown as number);
      return () => clearInterval(id);
    },
    unload: () => lib.close(),
    memoryUsage: () => D.memoryUsage(),
    onSignal(signal: DiagnosticSignal, fn: () => void) {
      D.addSignalListener(signal, fn); // Deno's signal listeners do not hold the event loop open
      return () => D.removeSignalListener(signal, fn);
    },
    onExitFirst(fn) {
      exitFirst.push(fn);
    },
    serveHttp(options: HttpServeOptions, handler: HttpHandler): HttpServer {
      let server: ReturnType<DenoFfi["serve"]>;
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
