/**
 * Shared test helpers: unique segment names, runtime binaries, and a driver
 * for child processes that run `tests/fixtures/child.ts` under Bun, Deno or
 * Node.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { MemoryStatsRegistry } from "../mod.ts";
import { arm64Wrapper } from "../scripts/arm64.ts";
import { newWorker, type TestWorker } from "./fixtures/threads.ts";

/** Absolute path of the repository root. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** The runtimes every cross-runtime test runs in. */
export const RUNTIMES = ["bun", "deno", "node"] as const;
/** One of {@linkcode RUNTIMES}. */
export type Runtime = typeof RUNTIMES[number];

/** The runtime running this test file. */
export const HERE: Runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";
/** The runtime after `rt` in {@linkcode RUNTIMES} (the last is followed by the first). */
export function nextRuntime(rt: Runtime): Runtime {
  return RUNTIMES[(RUNTIMES.indexOf(rt) + 1) % RUNTIMES.length];
}
/** Another runtime: the next in {@linkcode RUNTIMES}, so each runner pairs with a different one. */
export const OTHER: Runtime = nextRuntime(HERE);

/**
 * The runtimes whose children a per-runtime test starts: only the runner's
 * own. Every runtime has its own runner, so each runtime's children are
 * still all covered, once instead of three times; the tests about mixing
 * runtimes (crossprocess, fault, soak, race) keep using RUNTIMES.
 */
export const CHILD_RUNTIMES: readonly Runtime[] = [HERE];

/**
 * For a test whose subject does not depend on the runtime running it (it
 * starts processes of every runtime itself, or runs only C): the reason to
 * skip it under every runner but `rt`'s, so that `npm test` runs it once
 * instead of once per runner; `false` under `rt`'s own runner.
 */
export function onlyUnder(rt: Runtime): string | false {
  return HERE === rt && !EMULATED ? false : `independent of the runner's runtime: the ${rt} runner runs it`;
}

/**
 * Whether this test process runs under qemu-user (the bun-arm64 and
 * deno-arm64 runners, scripts/arm64.ts): tests that repeat something many
 * times repeat it fewer times there.
 */
export const EMULATED: boolean = process.env.MEMSTATS_TEST_ARCH === "arm64";

/**
 * Under emulation, a test repeated for each runtime's child runs only for
 * the runner's own runtime (the other arm64 runner covers the other): the
 * reason to skip it, or undefined.
 */
export function emulatedSkip(rt: Runtime): string | undefined {
  return EMULATED && rt !== HERE ? `under emulation the ${rt}-arm64 runner covers ${rt}` : undefined;
}

/**
 * Absolute path of a runtime binary from node_modules/.bin. When the child's
 * environment `env` has MEMSTATS_TEST_ARCH=arm64 (the bun-arm64 and
 * deno-arm64 runners set it in the emulated test process, so it is
 * inherited), the wrapper running the arm64 build under qemu-user instead
 * (scripts/arm64.ts): a child of an emulated process is emulated too.
 */
export function runtimeBin(rt: Runtime, env: Record<string, string | undefined> = process.env): string {
  if (env.MEMSTATS_TEST_ARCH === "arm64" && (rt === "bun" || rt === "deno")) {
    const wrapper = arm64Wrapper(rt);
    if (!existsSync(wrapper)) throw new Error(`${wrapper} missing: run bun scripts/arm64.ts fetch`);
    return wrapper;
  }
  const p = `${ROOT}node_modules/.bin/${rt}`;
  if (!existsSync(p)) throw new Error(`${p} missing: run npm install`);
  return p;
}

/** argv to run a TypeScript file under a runtime, in a child whose environment is `env`. */
export function runArgs(
  rt: Runtime,
  file: string,
  args: string[] = [],
  env: Record<string, string | undefined> = process.env,
): [string, string[]] {
  return rt === "deno"
    ? [runtimeBin("deno", env), ["run", "-A", file, ...args]]
    : [runtimeBin(rt, env), [file, ...args]];
}

/** A segment name unique to this process and call. */
export function uniqueName(tag = "t"): string {
  return `/mst-${tag}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/** Unlink quietly (after a test). */
export function cleanup(...names: string[]): void {
  for (const n of names) {
    try {
      MemoryStatsRegistry.unlink(n);
    } catch { /* already gone */ }
  }
}

/** Run a TypeScript file to completion; returns status and output. */
export function runFile(
  rt: Runtime,
  file: string,
  args: string[] = [],
  env: Record<string, string | undefined> = {},
): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const [cmd, argv] = runArgs(rt, file, args, { ...process.env, ...env });
  const r = spawnSync(cmd, argv, { env: { ...process.env, ...env }, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/**
 * A child process driven line by line: one JSON command in, one JSON answer
 * out. Runs `tests/fixtures/child.ts` unless another fixture is named.
 */
export class Child {
  readonly runtime: Runtime;
  readonly proc: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  #pending: ((line: string) => void)[] = [];
  #lines: string[] = [];
  stderr = "";

  constructor(rt: Runtime, env: Record<string, string | undefined> = {}, fixture = "child.ts") {
    this.runtime = rt;
    const [cmd, argv] = runArgs(rt, `${ROOT}tests/fixtures/${fixture}`, [], { ...process.env, ...env });
    this.proc = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    this.exited = new Promise((resolve) => this.proc.on("exit", (code, signal) => resolve({ code, signal })));
    this.proc.stderr!.on("data", (d) => (this.stderr += d));
    createInterface({ input: this.proc.stdout! }).on("line", (line) => {
      const waiter = this.#pending.shift();
      if (waiter) waiter(line);
      else this.#lines.push(line);
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Whether the process is still running. */
  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Send one command; resolves with the child's JSON answer (rejects on `error`). */
  // deno-lint-ignore no-explicit-any
  async send<T = any>(cmd: Record<string, unknown>, timeoutMs = 60_000): Promise<T> {
    this.proc.stdin!.write(JSON.stringify(cmd) + "\n");
    const line = await this.#next(timeoutMs);
    const msg = JSON.parse(line);
    if (msg.error) {
      const e = new Error(`${this.runtime} child: ${msg.error.code ?? ""} ${msg.error.message}`);
      (e as Error & { code?: string }).code = msg.error.code;
      throw e;
    }
    return msg as T;
  }

  #next(timeoutMs: number): Promise<string> {
    const ready = this.#lines.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.runtime} child ${this.pid} did not answer; stderr: ${this.stderr}`)),
        timeoutMs,
      );
      this.#pending.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
      this.exited.then(() => {
        clearTimeout(timer);
        setTimeout(() => reject(new Error(`${this.runtime} child exited; stderr: ${this.stderr}`)), 50);
      });
    });
  }

  /** Wait until stderr matches `re`. */
  async waitStderr(re: RegExp, timeoutMs = 30_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (!re.test(this.stderr)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${re} in stderr: ${this.stderr}`);
      if (!this.alive) throw new Error(`${this.runtime} child exited; stderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.stderr;
  }

  /** Close stdin (the child exits normally, running its exit hooks) and wait for it. */
  async close(): Promise<{ code: number | null; signal: string | null }> {
    if (this.alive) this.proc.stdin!.end();
    return await this.exited;
  }

  /** Kill with a signal and wait until the process is gone (reaped). */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.alive) {
      // Signal the pid directly: Deno's ChildProcess.kill closes the pipes first, and a
      // child that sees stdin close exits normally (releasing its slots) before the signal lands.
      try {
        process.kill(this.pid, signal);
      } catch { /* already gone */ }
    }
    await this.exited;
  }
}

/** Whether a thread of this process still exists. */
export function threadExists(tid: number): boolean {
  return existsSync(`/proc/self/task/${tid}`);
}

/** Poll `cond` every few ms until true or the deadline passes. */
export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** What tests/fixtures/worker.ts answers once it has registered. */
export interface WorkerAnswer {
  slot: number | null;
  threadId: number | null;
  tid: number;
  error?: string;
}

const WORKER = new URL("./fixtures/worker.ts", import.meta.url).href;

/** Start a Worker (tests/fixtures/worker.ts) that registers in `name` with `value`; resolves with its answer. */
export function startWorker(
  name: string,
  value: number,
  label: string,
): Promise<{ w: TestWorker; a: WorkerAnswer }> {
  const w = newWorker(WORKER);
  return new Promise((resolve, reject) => {
    w.onmessage = (e) => (e.data.error ? reject(new Error(e.data.error)) : resolve({ w, a: e.data }));
    w.onerror = (e) => reject(new Error(`worker failed: ${e.message}`));
    w.postMessage({ name, value, label });
  });
}
