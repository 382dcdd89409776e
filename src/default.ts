/**
 * The process-wide default registry and the calling thread's cached slot,
 * as the Rust registry this API follows has them: `memoryRegistry()`,
 * `getOrRegisterSlot()`, `updateArenaStats()`. "Process-wide" means per JS thread: the main thread
 * and every Worker each have their own registry object and their own slot,
 * all in the same segment.
 *
 * The default name `/memstats-<uid>` is predictable, so another user can
 * create it first ("squatting"): the segment is then theirs, and the sticky
 * bit of /dev/shm keeps the victim from removing it. There is no automatic
 * fallback to another name, because every process of an application, and
 * its readers (`memstats show`), must agree on one name without talking to
 * each other, and any name they could all derive another user can derive
 * too. Instead the error names the squatter's uid and the way out: choose a
 * name of your own with `MEMSTATS_SEGMENT`.
 *
 * @module
 */
import { lstatSync } from "node:fs";
import { MemstatsError } from "./errors.ts";
import { shim } from "./ffi/mod.ts";
import { defaultSegmentName } from "./names.ts";
import { MemoryStatsRegistry } from "./registry.ts";
import { runtime } from "./runtime/mod.ts";
import type { SlotHandle } from "./slot.ts";

/** Environment variable naming the default segment. */
export const SEGMENT_ENV = "MEMSTATS_SEGMENT";

// After a full table, try again at most this often.
const RETRY_AFTER_FULL_MS = 1000;

let registry: MemoryStatsRegistry | undefined;
let threadSlot: SlotHandle | null = null;
let lastFullAt = -Infinity;

/**
 * The name `memoryRegistry()` opens: `$MEMSTATS_SEGMENT`, or `/memstats-<uid>`.
 *
 * @example
 * ```ts
 * import { defaultSegment } from "@memstats/shm";
 * console.log(defaultSegment()); // "/memstats-1000"
 * ```
 */
export function defaultSegment(): string {
  return runtime().env(SEGMENT_ENV) || defaultSegmentName(shim().ms_geteuid());
}

/**
 * The default registry of this JS thread, opened (or created with the
 * defaults) on first use.
 *
 * @example
 * ```ts
 * import { memoryRegistry } from "@memstats/shm";
 * console.log(memoryRegistry().aggregateStats().activeThreads);
 * ```
 */
export function memoryRegistry(): MemoryStatsRegistry {
  if (registry === undefined || registry.closed) {
    const name = defaultSegment();
    try {
      registry = MemoryStatsRegistry.open(name);
    } catch (e) {
      throw squatted(name, e) ?? e;
    }
    threadSlot = null;
  }
  return registry;
}

/**
 * When `e` is the refusal of a segment that another user holds under the
 * default name, the error to throw instead: it names that user's uid and
 * what to do. Otherwise undefined.
 */
export function squatted(name: string, e: unknown): MemstatsError | undefined {
  if (!(e instanceof MemstatsError) || e.code !== "EACCES") return undefined;
  const euid = shim().ms_geteuid();
  let uid: number;
  try {
    uid = lstatSync(`/dev/shm${name}`).uid;
  } catch {
    return undefined; // cannot tell whose it is: the original error says what is known
  }
  if (uid === euid) return undefined;
  const env = runtime().env(SEGMENT_ENV);
  const chosen = env ? `${SEGMENT_ENV}=${env} names` : `the default segment`;
  return new MemstatsError(
    "EACCES",
    `${chosen} ${name}, which belongs to uid ${uid}, not to you (uid ${euid}): another user created ` +
      `it first, and the sticky bit of /dev/shm keeps you from removing it. Choose a segment of your own: ` +
      `set ${SEGMENT_ENV}=/memstats-${euid}-<app> (any name another user does not hold) for every ` +
      `process that writes or reads these figures, memstats included; or ask uid ${uid} or root to ` +
      `remove /dev/shm${name}`,
    name,
  );
}

/**
 * The calling thread's slot index in the default registry, registering on
 * first call; `null` when the table is full.
 *
 * @example
 * ```ts
 * import { getOrRegisterSlot, updateArenaStats } from "@memstats/shm";
 * if (getOrRegisterSlot() !== null) updateArenaStats(1 << 20);
 * ```
 */
export function getOrRegisterSlot(options?: { label?: string }): number | null {
  const reg = memoryRegistry();
  if (threadSlot !== null && !threadSlot.released) return threadSlot.index;
  const now = Date.now();
  if (now - lastFullAt < RETRY_AFTER_FULL_MS) return null;
  threadSlot = reg.registerSlot(options);
  lastFullAt = threadSlot === null ? now : -Infinity;
  return threadSlot?.index ?? null;
}

/**
 * Set the calling thread's first field in the default registry; does
 * nothing when the thread has no slot. This is the hot path.
 *
 * @example
 * ```ts
 * import { getOrRegisterSlot, updateArenaStats } from "@memstats/shm";
 * getOrRegisterSlot();
 * updateArenaStats(4096);
 * ```
 */
export function updateArenaStats(bytes: number): void {
  if (threadSlot !== null) threadSlot.set(bytes);
}

/**
 * The calling thread's slot handle in the default registry, or null.
 *
 * @example
 * ```ts
 * import { currentSlot, getOrRegisterSlot } from "@memstats/shm";
 * getOrRegisterSlot();
 * currentSlot()?.set(1);
 * ```
 */
export function currentSlot(): SlotHandle | null {
  return threadSlot;
}
