/**
 * The runtime services the core needs besides native calls: environment,
 * exit hooks, timers, signals, memory figures and an HTTP listener. One
 * implementation per runtime (`bun.ts`, `deno.ts`, `node.ts`); nothing outside
 * `src/runtime/` and `src/ffi/` knows which runtime runs.
 *
 * @module
 */

/**
 * Memory figures of the calling JS thread, in bytes. `rss` is the whole
 * process's resident set (the kernel does not split it by thread); the heap
 * figures belong to this thread's own isolate or VM.
 */
export interface RuntimeMemory {
  /** Resident set size of the process. */
  readonly rss: number;
  /** Bytes of the JS heap in use by live objects. */
  readonly heapUsed: number;
  /** Bytes reserved for the JS heap. */
  readonly heapTotal: number;
  /** Memory held outside the JS heap on behalf of JS objects (buffers, native bindings). */
  readonly external: number;
}

/**
 * Signals a {@linkcode Runtime.onSignal} listener may catch.
 *
 * @example
 * ```ts
 * import { type DiagnosticSignal, installDiagnostics, MemoryStatsRegistry } from "@memstats/shm";
 * const signal: DiagnosticSignal = "SIGUSR2";
 * installDiagnostics(MemoryStatsRegistry.open("/memstats-app"), { signal });
 * ```
 */
export type DiagnosticSignal = "SIGQUIT" | "SIGUSR1" | "SIGUSR2";

/** Where {@linkcode Runtime.serveHttp} listens. */
export interface HttpServeOptions {
  /** Address to bind, e.g. `"127.0.0.1"`, `"::1"`, `"0.0.0.0"`. */
  readonly hostname: string;
  /** TCP port; 0 picks a free one (read it back from {@linkcode HttpServer.port}). */
  readonly port: number;
}

/** Answers one HTTP request. */
export type HttpHandler = (request: Request) => Response | Promise<Response>;

/** A listening HTTP server started by {@linkcode Runtime.serveHttp}. */
export interface HttpServer {
  /** The port actually bound (useful after asking for port 0). */
  readonly port: number;
  /** Stop accepting connections, end open ones, and resolve once closed. */
  close(): Promise<void>;
}

/**
 * Why {@linkcode Runtime.serveHttp} could not listen, as an `Error` with
 * this `code`: the port is taken, the port is privileged, or the address is
 * not one of this machine's.
 */
export type ListenErrorCode = "EADDRINUSE" | "EACCES" | "EADDRNOTAVAIL";

/** The services of the running runtime. */
export interface Runtime {
  /** Which runtime is running; for messages and loader choice only. */
  readonly name: "bun" | "deno" | "node";
  /** Whether this is the process's main thread (not a Worker). */
  readonly isMainThread: boolean;
  /** An environment variable, or undefined when unset or not permitted. */
  env(name: string): string | undefined;
  /** Run `fn` when this JS thread exits normally (process exit, Worker close). */
  onExit(fn: () => void): void;
  /**
   * Like `onExit`, but runs before every `onExit` hook, so a final report
   * still sees the slots the exit hooks are about to release.
   */
  onExitFirst(fn: () => void): void;
  /** A repeating timer that never keeps the process or Worker alive; returns its canceller. */
  unrefInterval(fn: () => void, ms: number): () => void;
  /** This JS thread's memory figures (see {@linkcode RuntimeMemory}). */
  memoryUsage(): RuntimeMemory;
  /**
   * Collect garbage now, where the runtime's collector lets large dead
   * buffers pile up (Bun); absent where it keeps up by itself. For callers
   * that just dropped a lot of memory at once.
   */
  collectGarbage?(): void;
  /**
   * Call `fn` on every delivery of `signal` to the process, instead of its
   * default action. The listener never keeps the process alive; the returned
   * function removes it. Main thread only.
   */
  onSignal(signal: DiagnosticSignal, fn: () => void): () => void;
  /**
   * Start an HTTP/1.1 server calling `handler` for every request; resolves
   * once it listens. It keeps the process alive until closed. Rejects with
   * an `Error` whose `code` is a {@linkcode ListenErrorCode} when it cannot
   * listen.
   */
  serveHttp(options: HttpServeOptions, handler: HttpHandler): Promise<HttpServer>;
}
