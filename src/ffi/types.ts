/**
 * The one interface between the runtime-free core and the runtime: a loaded
 * native shim plus the few runtime services the core needs. `deno.ts` and
 * `bun.ts` implement it; nothing outside `src/ffi/` knows which one runs.
 *
 * @module
 */

/** How `Shim.open` opens a name. */
export const OpenKind = {
  /** Attach read-write; fails with ENOENT when missing. */
  attach: 0,
  /** Attach read-only (`O_RDONLY`, later mapped `PROT_READ`). */
  attachReadOnly: 1,
  /** Create exclusively (`O_CREAT|O_EXCL`); fails with EEXIST when present. */
  createExclusive: 2,
} as const;
/** One of the {@linkcode OpenKind} values. */
export type OpenKind = typeof OpenKind[keyof typeof OpenKind];

/** A mapped region: an ArrayBuffer over shared memory and its length. */
export interface Mapping {
  /** Borrowed memory: valid until `Shim.unmap`, never freed by the GC. */
  readonly buffer: ArrayBuffer;
  /** Length in bytes. */
  readonly length: number;
}

/** The native calls; each returns a negative errno on failure. */
export interface Shim {
  /** Absolute path of the loaded library. */
  readonly path: string;
  /** `shm_open`; a file descriptor or -errno. */
  open(name: string, kind: OpenKind, mode: number): number;
  /** `fstat` into out: [size, uid, mode bits, mtime ms, our euid]; 0 or -errno. */
  fstat(fd: number, out: Float64Array): number;
  /** `ftruncate`; 0 or -errno. */
  ftruncate(fd: number, size: number): number;
  /** `fchmod`; 0 or -errno. */
  fchmod(fd: number, mode: number): number;
  /** `mmap(MAP_SHARED)`; a mapping or -errno. */
  map(fd: number, length: number, readOnly: boolean): Mapping | number;
  /** `munmap`; every view over the mapping must be dropped first. */
  unmap(mapping: Mapping): number;
  /** `close`; 0 or -errno. */
  close(fd: number): number;
  /** `shm_unlink`; 0 or -errno. */
  unlink(name: string): number;
  /** `getpid()`. */
  pid(): number;
  /** The calling OS thread's id. */
  tid(): number;
  /** `geteuid()`. */
  euid(): number;
  /** Start time of thread `tid` of `pid` in clock ticks, or -errno (-ESRCH: gone). */
  threadStart(pid: number, tid: number): number;
  /** Inode of our pid namespace, 0 when unknown, or -errno. */
  pidNamespace(): number;
  /** Sleep the calling thread. */
  sleepMs(ms: number): void;
}

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
 * Signals a {@linkcode Platform.onSignal} listener may catch.
 *
 * @example
 * ```ts
 * import { type DiagnosticSignal, installDiagnostics, MemoryStatsRegistry } from "@memstats/shm";
 * const signal: DiagnosticSignal = "SIGUSR2";
 * installDiagnostics(MemoryStatsRegistry.open("/memstats-app"), { signal });
 * ```
 */
export type DiagnosticSignal = "SIGQUIT" | "SIGUSR1" | "SIGUSR2";

/** A loaded shim plus runtime services. */
export interface Platform {
  /** Which runtime is running; for diagnostics only. */
  readonly runtime: "bun" | "deno";
  /** The native calls. */
  readonly shim: Shim;
  /** An environment variable, or undefined when unset or not permitted. */
  env(name: string): string | undefined;
  /** Run `fn` when this JS thread exits normally (process exit, Worker close). */
  onExit(fn: () => void): void;
  /** A repeating timer that never keeps the process or Worker alive. */
  unrefInterval(fn: () => void, ms: number): () => void;
  /** Unload the library; only safe once every mapping is gone. */
  unload(): void;
  /** This JS thread's memory figures (see {@linkcode RuntimeMemory}). */
  memoryUsage(): RuntimeMemory;
  /**
   * Call `fn` on every delivery of `signal` to the process, instead of its
   * default action. The listener never keeps the process alive; the returned
   * function removes it. Main thread only.
   */
  onSignal(signal: DiagnosticSignal, fn: () => void): () => void;
  /**
   * Like `onExit`, but runs before every `onExit` hook, so a final report
   * still sees the slots the exit hooks are about to release.
   */
  onExitFirst(fn: () => void): void;
  /**
   * Start an HTTP/1.1 server (`Deno.serve`, `Bun.serve`) calling `handler`
   * for every request. It keeps the process alive until closed. Throws an
   * `Error` whose `code` is a {@linkcode ListenErrorCode} when it cannot
   * listen, so callers can explain it without knowing the runtime.
   */
  serveHttp(options: HttpServeOptions, handler: HttpHandler): HttpServer;
}

/** Where {@linkcode Platform.serveHttp} listens. */
export interface HttpServeOptions {
  /** Address to bind, e.g. `"127.0.0.1"`, `"::1"`, `"0.0.0.0"`. */
  readonly hostname: string;
  /** TCP port; 0 picks a free one (read it back from {@linkcode HttpServer.port}). */
  readonly port: number;
}

/** Answers one HTTP request. */
export type HttpHandler = (request: Request) => Response | Promise<Response>;

/** A listening HTTP server started by {@linkcode Platform.serveHttp}. */
export interface HttpServer {
  /** The port actually bound (useful after asking for port 0). */
  readonly port: number;
  /** Stop accepting connections, end open ones, and resolve once closed. */
  close(): Promise<void>;
}

/**
 * Why {@linkcode Platform.serveHttp} could not listen, as an `Error` with
 * this `code`: the port is taken, the port is privileged, or the address is
 * not one of this machine's.
 */
export type ListenErrorCode = "EADDRINUSE" | "EACCES" | "EADDRNOTAVAIL";
