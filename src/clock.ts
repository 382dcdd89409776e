/**
 * A coarse wall clock for the hot path. `Date.now()` costs 20-40 ns, several
 * times the whole update, so a slot's `updatedAt` is stamped from this value,
 * which an unref'd timer refreshes every {@linkcode CLOCK_TICK_MS} while this
 * JS thread owns at least one slot. A thread that never yields to its event
 * loop stamps stale times; the values themselves are always current.
 *
 * @module
 */
import type { Runtime } from "./runtime/mod.ts";

/** Refresh period of the coarse clock. */
export const CLOCK_TICK_MS = 100;

/** The current coarse time, ms since the epoch. */
export const clock: { now: number } = { now: Date.now() };

let holders = 0;
let stop: (() => void) | undefined;

/** Keep the clock ticking while the caller owns a slot. */
export function retainClock(p: Runtime): void {
  clock.now = Date.now();
  holders++;
  // The timer stops itself at its first tick without holders, not at the last release: a thread
  // whose only slot is released and claimed again does not pay a timer start and stop (~2 us in Deno).
  stop ??= p.unrefInterval(() => {
    clock.now = Date.now();
    if (holders === 0) {
      stop?.();
      stop = undefined;
    }
  }, CLOCK_TICK_MS);
}

/** Undo one {@linkcode retainClock}; the timer stops at its next tick after the last holder. */
export function releaseClock(): void {
  if (holders > 0) holders--;
}
