/**
 * What the benchmark measures and how its results are keyed, shared by
 * `bench.ts` (measures), `bench_cluster.ts` (the prom-client comparison)
 * and `bench_report.ts` (renders `BENCHMARKS.md`). Results are looked up by
 * these typed keys, never by their display text; the text lives here once.
 * This module imports nothing, so the scripts form no cycle.
 *
 * @module
 */

/** The runtimes the benchmark covers, in report column order. */
export const RUNTIMES = ["bun", "deno", "node"] as const;
/** One of {@linkcode RUNTIMES}. */
export type Runtime = typeof RUNTIMES[number];

/** The runtime running this code. */
export function currentRuntime(): Runtime {
  return "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";
}

/** Summary of a set of samples (ns unless said otherwise). */
export interface Stat {
  median: number;
  p25: number;
  p75: number;
  min: number;
  max: number;
  n: number;
}

/** Median, quartiles and range of `xs`. */
export function stat(xs: readonly number[]): Stat {
  const a = [...xs].sort((x, y) => x - y);
  const q = (p: number) => {
    if (a.length === 0) return NaN;
    const i = (a.length - 1) * p;
    const lo = Math.floor(i);
    return a[lo] + (a[Math.min(lo + 1, a.length - 1)] - a[lo]) * (i - lo);
  };
  return {
    median: q(0.5),
    p25: q(0.25),
    p75: q(0.75),
    min: a[0] ?? NaN,
    max: a[a.length - 1] ?? NaN,
    n: a.length,
  };
}

/** mitata's `measure()` options: a few samples in a smoke run, 400 ms of CPU time otherwise. */
export function mitataOptions(smoke: boolean): Record<string, number> {
  return smoke
    ? { min_cpu_time: 1e6, min_samples: 2, max_samples: 3, warmup_samples: 1, batch_samples: 16 }
    : { min_cpu_time: 400e6 };
}

/** A mitata result as a {@linkcode Stat}. */
export function fromMitata(
  s: { p25: number; p50: number; p75: number; min: number; max: number; samples: number[] },
): Stat {
  return { median: s.p50, p25: s.p25, p75: s.p75, min: s.min, max: s.max, n: s.samples.length };
}

/** The timed update loops of the hot-path section, by key, with their display names. */
export const HOT_LOOPS = {
  floor: "plain Float64Array store (floor)",
  naive: "naive Atomics.store(BigUint64Array, BigInt(v))",
  set: "slot.set(v)",
  updateArenaStats: "updateArenaStats(v)",
  updateArena: "registry.updateArena(index, v)",
} as const;
/** A key of {@linkcode HOT_LOOPS}. */
export type HotLoop = keyof typeof HOT_LOOPS;

/** Ratios of two hot loops, each the median of per-round ratios. */
export const HOT_RATIOS = {
  naiveOverSet: { over: "naive", under: "set", text: "naive / slot.set(v)" },
  naiveOverUpdateArenaStats: {
    over: "naive",
    under: "updateArenaStats",
    text: "naive / updateArenaStats(v)",
  },
  setOverFloor: { over: "set", under: "floor", text: "slot.set(v) / floor" },
  updateArenaStatsOverFloor: {
    over: "updateArenaStats",
    under: "floor",
    text: "updateArenaStats(v) / floor",
  },
} as const satisfies Record<string, { over: HotLoop; under: HotLoop; text: string }>;
/** A key of {@linkcode HOT_RATIOS}. */
export type HotRatio = keyof typeof HOT_RATIOS;

/** The reader calls measured. */
export const READER_FNS = {
  aggregateStats: "aggregateStats()",
  perThreadStats: "perThreadStats()",
  snapshot: "snapshot()",
} as const;
/** A key of {@linkcode READER_FNS}. */
export type ReaderFn = keyof typeof READER_FNS;

/** The registration and open operations measured. */
export const LIFECYCLE_OPS = {
  registerSlotHeld: "registerSlot() + release(), another slot held",
  registerIndexHeld: "register() + release(index), another slot held",
  registerSlotOnly: "registerSlot() + release(), the thread's only slot",
  open: "open() + close() of an existing segment",
  openReadOnly: "open({ readOnly: true }) + close()",
  allocation: "new Float64Array(8) (for reference)",
} as const;
/** A key of {@linkcode LIFECYCLE_OPS}. */
export type LifecycleOp = keyof typeof LIFECYCLE_OPS;

/** How the cross-process round trip reads the peer's value. */
export const ROUND_TRIP_MODES = {
  raw: "raw: `set()` then spin on `Atomics.load` of the peer's value word",
  api: "API: `set()` then spin on `registry.slotStats(peer)`",
} as const;
/** A key of {@linkcode ROUND_TRIP_MODES}. */
export type RoundTripMode = keyof typeof ROUND_TRIP_MODES;

/** The two-writer layouts: our API, and raw stores at our stride and at an unpadded one. */
export const WRITER_LAYOUTS = {
  api: "slot.set(v), our padded slots",
  padded: "raw stores, padded stride",
  unpadded: "raw stores, unpadded 16-byte slots",
} as const;
/** A key of {@linkcode WRITER_LAYOUTS}. */
export type WriterLayout = keyof typeof WRITER_LAYOUTS;

/** Resident-memory measurements of section 7. */
export type RssProbe = "bare" | "reader" | "readerRecords";

/** What `bench_cluster.ts` prints: both collectors over the same worker processes. */
export interface CollectResult {
  /** Our read-only reader in the cluster's primary, over the slots of the workers. */
  ours: { fn: ReaderFn; stat: Stat; entries: number }[];
  /** prom-client's `AggregatorRegistry.clusterMetrics()`, ns per call. */
  prom: { stat: Stat; series: number; calls: number };
}

/** Everything one runtime's suite measured. */
export interface SuiteResult {
  runtime: Runtime;
  version: string;
  engine: string;
  smoke: boolean;
  loadBefore: number[];
  loadAfter: number[];
  /** Share of the machine's CPU time used by processes other than this suite and its children, %. */
  othersCpuPercent: number;
  /** Idle share of the machine's CPU time in the 3 s before the suite started, %. */
  idleBeforePercent: number;
  startedAt: string;
  seconds: number;
  hot: {
    opsPerSample: number;
    rounds: number;
    rows: Partial<Record<HotLoop, Stat>>;
    ratios: Partial<Record<HotRatio, Stat>>;
  };
  heap: { loop: HotLoop; ops: number; allocatedBytes: number; usedBefore: number; usedAfter: number }[];
  readers: { fn: ReaderFn; capacity: number; active: number; stat: Stat }[];
  lifecycle: { op: LifecycleOp; stat: Stat }[];
  roundTrip: { mode: RoundTripMode; stat: Stat; rounds: number }[];
  writers: {
    layout: WriterLayout;
    stride: number;
    writers: number;
    opsPerWriter: number;
    nsPerOp: Stat;
    totalMops: Stat;
  }[];
  collect: CollectResult & { workers: number };
  memory: {
    sizes: { capacity: number; fields: number; bytes: number; checked: boolean }[];
    rss: {
      probe: RssProbe;
      capacity: number;
      status: Record<string, number>;
      openMs?: number;
      slots?: number;
    }[];
  };
}

/** Facts about this machine for the report. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  commit: string;
  dirty: boolean;
  date: string;
}
