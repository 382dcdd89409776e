/**
 * Bun loader: `bun:ffi` `dlopen` over the shim and `toArrayBuffer` for
 * mappings. `toArrayBuffer(ptr, 0, len)` borrows the memory; `toBuffer` is
 * never used because it may free what it wraps.
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

// Only the parts of bun:ffi used here, so the module type-checks under Deno and tsc.
interface BunFfi {
  dlopen(path: string, symbols: Record<string, unknown>): {
    symbols: Record<string, (...args: unknown[]) => unknown>;
    close(): void;
  };
  toArrayBuffer(ptr: number, byteOffset: number, byteLength: number): ArrayBuffer;
}
// Only the part of Bun.serve used here.
interface BunServe {
  serve(options: {
    hostname: string;
    port: number;
    fetch(request: Request): Response | Promise<Response>;
    error(e: unknown): Response;
  }): { port: number; stop(closeActiveConnections?: boolean): Promise<void> | void };
}
interface BunProcess {
  env: Record<string, string | undefined>;
  on(event: string, fn: () => void): void;
  off(event: string, fn: () => void): void;
  prependListener(event: string, fn: () => void): void;
  memoryUsage: { rss(): number };
}
// bun:jsc's figures for this thread's VM; process.memoryUsage()'s heap
// figures are not per Worker in Bun and miss external memory.
interface BunJsc {
  heapStats(): { heapSize: number; heapCapacity: number; extraMemorySize: number };
}

const SYMBOLS = {
  ms_abi: { args: [], returns: "i32" },
  ms_open: { args: ["ptr", "i32", "u32"], returns: "i32" },
  ms_fstat: { args: ["i32", "ptr"], returns: "i32" },
  ms_ftruncate: { args: ["i32", "f64"], returns: "i32" },
  ms_fchmod: { args: ["i32", "u32"], returns: "i32" },
  ms_map: { args: ["i32", "f64", "i32", "ptr"], returns: "ptr" },
  ms_unmap: { args: ["ptr", "f64"], returns: "i32" },
  ms_close: { args: ["i32"], returns: "i32" },
  ms_unlink: { args: ["ptr"], returns: "i32" },
  ms_getpid: { args: [], returns: "i32" },
  ms_gettid: { args: [], returns: "i32" },
  ms_geteuid: { args: [], returns: "u32" },
  ms_thread_start: { args: ["i32", "i32"], returns: "f64" },
  ms_pid_namespace: { args: [], returns: "f64" },
  ms_sleep_ms: { args: ["f64"], returns: "void" },
} as const;

interface BunMapping extends Mapping {
  readonly address: number;
}

const encoder = new TextEncoder();
function cString(s: string): Uint8Array {
  return encoder.encode(s + "\0");
}

/** Load the shim at `path` into this Bun thread. */
export function loadBun(path: string, expectedAbi: number): Platform {
  // Synchronous import, so opening a registry never needs `await`.
  const ffi = (import.meta as unknown as { require(id: string): BunFfi }).require("bun:ffi");
  const proc = (globalThis as unknown as { process: BunProcess }).process;
  const lib = ffi.dlopen(path, SYMBOLS);
  let jsc: BunJsc | undefined;
  const f = lib.symbols;
  const abi = f.ms_abi() as number;
  if (abi !== expectedAbi) {
    lib.close();
    throw new Error(`shim ABI ${abi}, expected ${expectedAbi}`);
  }
  const err = new Int32Array(1);
  const shim: Shim = {
    path,
    open: (name: string, kind: OpenKind, mode: number) => f.ms_open(cString(name), kind, mode) as number,
    fstat: (fd, out) => f.ms_fstat(fd, out) as number,
    ftruncate: (fd, size) => f.ms_ftruncate(fd, size) as number,
    fchmod: (fd, mode) => f.ms_fchmod(fd, mode) as number,
    map(fd, length, readOnly): Mapping | number {
      const address = f.ms_map(fd, length, readOnly ? 1 : 0, err) as number | null;
      if (!address) return err[0];
      const buffer = ffi.toArrayBuffer(address, 0, length);
      const m: BunMapping = { buffer, length, address };
      return m;
    },
    unmap: (m) => f.ms_unmap((m as BunMapping).address, m.length) as number,
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
    runtime: "bun",
    shim,
    env: (name) => proc.env[name],
    onExit(fn) {
      proc.on("exit", fn);
    },
    unrefInterval(fn, ms) {
      const t = setInterval(fn, ms) as unknown as { unref(): void };
      t.unref();
      return () => clearInterval(t as unknown as number);
    },
    unload: () => lib.close(),
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
    onSignal(signal: DiagnosticSignal, fn: () => void) {
      proc.on(signal, fn); // like Node's, never keeps the process alive
      return () => proc.off(signal, fn);
    },
    onExitFirst(fn) {
      proc.prependListener("exit", fn);
    },
    serveHttp(options: HttpServeOptions, handler: HttpHandler): HttpServer {
      const B = (globalThis as unknown as { Bun: BunServe }).Bun;
      let server: ReturnType<BunServe["serve"]>;
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
