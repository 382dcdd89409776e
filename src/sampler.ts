/**
 * The runtime memory sampler: a timer in any process or Worker that writes
 * the calling thread's own memory figures into its slot.
 *
 * Which figures: the resident set size (of the whole process: the kernel
 * does not split it by thread), and this thread's JS heap in use, heap
 * reserved and external memory, from `Deno.memoryUsage()` or, in Bun, from
 * `bun:jsc`'s per-VM heap statistics (Bun's `process.memoryUsage()` heap
 * figures are not per Worker). Each sample is one multi-field `update()`,
 * so a reader never sees half of one.
 *
 * @module
 */
import { MemstatsError } from "./errors.ts";
import { runtime, type RuntimeMemory } from "./runtime/mod.ts";
import type { MemoryStatsRegistry } from "./registry.ts";
import type { FieldSpec } from "./names.ts";
import type { SlotHandle } from "./slot.ts";

/**
 * The fields the sampler writes: `rss_bytes` (declared a per-process field:
 * totals count each process once), `heap_used_bytes`, `heap_total_bytes`,
 * `external_bytes`. Create the segment with them.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry, SAMPLER_FIELDS } from "@memstats/shm";
 * const reg = MemoryStatsRegistry.open("/memstats-app", { fields: ["arena_bytes", ...SAMPLER_FIELDS] });
 * console.log(reg.fields); // ["arena_bytes", "rss_bytes", "heap_used_bytes", ...]
 * reg.close();
 * ```
 */
export const SAMPLER_FIELDS: readonly FieldSpec[] = [
  { name: "rss_bytes", kind: "process" },
  "heap_used_bytes",
  "heap_total_bytes",
  "external_bytes",
];

const SAMPLER_NAMES = SAMPLER_FIELDS.map((f) => (typeof f === "string" ? f : f.name));

const SOURCE: Record<string, keyof RuntimeMemory> = {
  rss_bytes: "rss",
  heap_used_bytes: "heapUsed",
  heap_total_bytes: "heapTotal",
  external_bytes: "external",
};

/**
 * Options for {@linkcode startSampler}.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry, SAMPLER_FIELDS, type SamplerOptions, startSampler } from "@memstats/shm";
 * const reg = MemoryStatsRegistry.open("/memstats-app", { fields: ["arena_bytes", ...SAMPLER_FIELDS] });
 * const options: SamplerOptions = { intervalMs: 250, label: "worker-1" };
 * startSampler(reg, options).stop();
 * reg.close();
 * ```
 */
export interface SamplerOptions {
  /** Milliseconds between samples (default 1000, at least 10). */
  intervalMs?: number;
  /** Label of the slot the sampler registers (ignored when `slot` is given). */
  label?: string;
  /** Write into this slot (the thread's own) instead of registering one. */
  slot?: SlotHandle;
}

/**
 * A running sampler; see {@linkcode startSampler}.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry, SAMPLER_FIELDS, type Sampler, startSampler } from "@memstats/shm";
 * const reg = MemoryStatsRegistry.open("/memstats-app", { fields: ["arena_bytes", ...SAMPLER_FIELDS] });
 * const sampler: Sampler = startSampler(reg);
 * sampler.sample(); // one more sample right now
 * sampler.stop(); // timer gone, slot released
 * reg.close();
 * ```
 */
export interface Sampler extends Disposable {
  /** The slot written, or null when the table was full (then the sampler does nothing). */
  readonly slot: SlotHandle | null;
  /** The fields written: those of {@linkcode SAMPLER_FIELDS} the segment has. */
  readonly fields: readonly string[];
  /** Sampling period in ms. */
  readonly intervalMs: number;
  /** Whether {@linkcode Sampler.stop} has run. */
  readonly stopped: boolean;
  /** Take one sample now. */
  sample(): void;
  /** Stop the timer; a slot the sampler registered itself is released. Idempotent. */
  stop(): void;
  /** Same as {@linkcode Sampler.stop}, for `using`. */
  [Symbol.dispose](): void;
}

/**
 * Start writing this thread's memory figures into its slot every
 * `intervalMs`, beginning now. The segment must have at least one of
 * {@linkcode SAMPLER_FIELDS} (`SCHEMA` otherwise). The timer never keeps
 * the process or Worker alive.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry, SAMPLER_FIELDS, startSampler } from "@memstats/shm";
 *
 * const reg = MemoryStatsRegistry.open("/memstats-app", { fields: ["arena_bytes", ...SAMPLER_FIELDS] });
 * const sampler = startSampler(reg, { label: "main", intervalMs: 500 });
 * console.log(reg.slotStats(sampler.slot!.index)?.values.rss_bytes); // e.g. 41943040
 * sampler.stop();
 * reg.close();
 * ```
 */
export function startSampler(registry: MemoryStatsRegistry, options: SamplerOptions = {}): Sampler {
  const intervalMs = options.intervalMs ?? 1000;
  if (!(Number.isFinite(intervalMs) && intervalMs >= 10)) {
    throw new MemstatsError("INVALID_ARGUMENT", `intervalMs must be a number >= 10, got ${intervalMs}`);
  }
  const fields = SAMPLER_NAMES.filter((f) => registry.fields.includes(f));
  if (fields.length === 0) {
    throw new MemstatsError(
      "SCHEMA",
      `segment ${registry.name} has fields [${registry.fields.join(", ")}], none of which the sampler ` +
        `writes; create it with fields: ["arena_bytes", ...SAMPLER_FIELDS] (${SAMPLER_NAMES.join(", ")})`,
      registry.name,
    );
  }
  if (options.slot && options.slot.fields.join() !== registry.fields.join()) {
    throw new MemstatsError("INVALID_ARGUMENT", `the slot given does not belong to ${registry.name}`);
  }
  const p = runtime();
  const owned = options.slot === undefined;
  const slot = options.slot ?? registry.registerSlot({ label: options.label });
  const values: Record<string, number> = {};
  let stopTimer: (() => void) | undefined;
  let stopped = false;
  const sample = () => {
    if (stopped || slot === null || slot.released) return;
    const m = p.memoryUsage();
    for (const f of fields) values[f] = Math.max(0, Math.round(m[SOURCE[f]]));
    slot.update(values);
  };
  if (slot !== null) {
    sample();
    stopTimer = p.unrefInterval(sample, intervalMs);
  }
  const stop = () => {
    if (stopped) return;
    stopped = true;
    stopTimer?.();
    if (owned && slot !== null && !slot.released && !registry.closed) slot.release();
  };
  return {
    slot,
    fields,
    intervalMs,
    get stopped() {
      return stopped;
    },
    sample,
    stop,
    [Symbol.dispose]: stop,
  };
}
