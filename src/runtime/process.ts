/**
 * The services both Node.js and Bun give through Node's `process` object
 * (Bun implements it): environment, exit hooks, signals, and unref'd
 * intervals. Each runtime's module adds what differs (threads, memory
 * figures, HTTP).
 *
 * @module
 */
import type { DiagnosticSignal, Runtime } from "./types.ts";

/** The parts of Node's `process` used here, which Bun's implements too. */
export interface NodeStyleProcess {
  env: Record<string, string | undefined>;
  on(event: string, fn: () => void): void;
  off(event: string, fn: () => void): void;
  prependListener(event: string, fn: () => void): void;
}

/** The {@linkcode Runtime} services that come from `proc`. */
export function processServices(
  proc: NodeStyleProcess,
): Pick<Runtime, "env" | "onExit" | "onExitFirst" | "unrefInterval" | "onSignal"> {
  return {
    env: (name) => proc.env[name],
    onExit(fn) {
      proc.on("exit", fn);
    },
    onExitFirst(fn) {
      proc.prependListener("exit", fn);
    },
    unrefInterval(fn, ms) {
      const t = setInterval(fn, ms) as unknown as { unref(): void };
      t.unref();
      return () => clearInterval(t as unknown as number);
    },
    onSignal(signal: DiagnosticSignal, fn: () => void) {
      proc.on(signal, fn); // a signal listener never keeps the process alive, in Node or in Bun
      return () => proc.off(signal, fn);
    },
  };
}
