/**
 * Snapshots of a registry for diagnostics, and their stable JSON form.
 *
 * Every reader-facing output (`memstats show`, `--json`, `--prom`, `watch`,
 * the SIGQUIT report, `MEMSTATS_REPORT`) renders a {@linkcode Snapshot}, so
 * they all agree with each other. The totals of a snapshot are summed from
 * the very slots it lists, never read separately, so a table's totals line
 * always adds up even while writers keep writing.
 *
 * @module
 */
import type { FieldKind } from "./names.ts";
import type { MemoryStatsRegistry, SegmentInfo } from "./registry.ts";
import { fieldTotal, rowRecord, type TableSnapshot, type ThreadMemoryStats, totalsRecord } from "./table.ts";

/** Version of the JSON document {@linkcode snapshotJson} produces; bumped only on incompatible changes. */
export const SNAPSHOT_SCHEMA_VERSION = 1;

/** Everything a report shows about one segment at one moment. */
export interface Snapshot {
  /** Segment name. */
  readonly name: string;
  /** Layout version, e.g. `"1.0"`. */
  readonly layoutVersion: string;
  /** Number of slots. */
  readonly capacity: number;
  /** Field names, in slot order. */
  readonly fields: readonly string[];
  /** Field kinds, in slot order: how each total is counted. */
  readonly kinds: readonly FieldKind[];
  /** Segment creation time, ms since the epoch. */
  readonly createdAt: number;
  /** Pid of the process that created the segment. */
  readonly creatorPid: number;
  /** When the snapshot was taken, ms since the epoch. */
  readonly takenAt: number;
  /** Number of slots listed (live when read). */
  readonly activeThreads: number;
  /** Slots whose owner is dead, awaiting reclaim: not listed, not in totals. */
  readonly deadSlots: number;
  /** Slots not read (a write stayed in progress, or the read's time budget ran out). */
  readonly skippedSlots: number;
  /** Registrations refused because the table was full, ever. */
  readonly overflowCount: number;
  /** Slots taken back from dead owners, ever. */
  readonly reclaimedCount: number;
  /** Total of each field over the listed slots (a per-process field: once per process). */
  readonly totals: Readonly<Record<string, number>>;
  /** The live slots, in slot order. */
  readonly slots: readonly ThreadMemoryStats[];
}

/**
 * Read the table once.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry } from "../mod.ts";
 * import { takeSnapshot } from "./report.ts";
 * const r = MemoryStatsRegistry.open("/memstats-example");
 * console.log(takeSnapshot(r).activeThreads);
 * r.close();
 * ```
 */
export function takeSnapshot(registry: MemoryStatsRegistry): Snapshot {
  const t = registry.snapshot();
  const slots: ThreadMemoryStats[] = [];
  for (let k = 0; k < t.count; k++) slots.push(rowRecord(t, k));
  return snapshotOf(registry.info, t, slots);
}

/** The segment facts a {@linkcode Snapshot} carries. */
export type SnapshotSegment = Pick<
  SegmentInfo,
  "name" | "layoutVersion" | "capacity" | "fields" | "kinds" | "createdAt" | "creatorPid"
>;

/** The snapshot of read `t` of the segment `info` describes, listing `slots` (some or all of its rows). */
export function snapshotOf(
  info: SnapshotSegment,
  t: TableSnapshot,
  slots: readonly ThreadMemoryStats[],
): Snapshot {
  return {
    name: info.name,
    layoutVersion: info.layoutVersion,
    capacity: info.capacity,
    fields: info.fields,
    kinds: info.kinds,
    createdAt: info.createdAt,
    creatorPid: info.creatorPid,
    takenAt: t.takenAt,
    activeThreads: t.count,
    deadSlots: t.deadSlots,
    skippedSlots: t.skippedSlots,
    overflowCount: t.overflowCount,
    reclaimedCount: t.reclaimedCount,
    totals: totalsRecord(t),
    slots,
  };
}

/** Totals of some records, counted as every read counts them (see `fieldTotal`). */
export function sumFields(
  fields: readonly string[],
  kinds: readonly FieldKind[],
  slots: readonly ThreadMemoryStats[],
): Record<string, number> {
  const pids = slots.map((s) => s.pid);
  const namespaces = slots.map(() => 0);
  const totals: Record<string, number> = {};
  fields.forEach((f, j) => {
    totals[f] = fieldTotal(kinds[j], slots.length, slots.map((s) => s.values[f]), pids, namespaces);
  });
  return totals;
}

/**
 * The capacity to raise a segment to after refused registrations: room for
 * every active slot plus every refusal, rounded up to a power of two, and
 * never less than double the current capacity.
 */
export function suggestedCapacity(s: Pick<Snapshot, "capacity" | "activeThreads" | "overflowCount">): number {
  const need = Math.max(s.capacity * 2, s.activeThreads + s.overflowCount);
  return Math.min(2 ** Math.ceil(Math.log2(need)), 1 << 20);
}

/** The one-line overflow warning, or undefined when nothing was refused. */
export function overflowWarning(s: Snapshot): string | undefined {
  if (s.overflowCount === 0) return undefined;
  const n = s.overflowCount;
  return `warning: ${n} registration${n === 1 ? " was" : "s were"} refused because the table is full ` +
    `(capacity ${s.capacity}); those threads are not tracked. Recreate ${s.name} with capacity ` +
    `${suggestedCapacity(s)} (open option \`capacity\`).`;
}

/** One slot in the JSON document. */
export interface SlotJson {
  /** Slot index. */
  slot: number;
  /** Unique owner id. */
  threadId: number;
  /** Owner process id. */
  pid: number;
  /** Owner kernel thread id. */
  tid: number;
  /** Label ("" when none). */
  label: string;
  /** Field values. */
  values: Record<string, number>;
  /** Field high-water marks since registration. */
  peaks: Record<string, number>;
  /** Registration time, ms since the epoch. */
  registeredAt: number;
  /** Last update, ms since the epoch. */
  updatedAt: number;
}

/** The JSON document of `memstats show --json` and `MEMSTATS_REPORT=json`; see docs/CLI.md. */
export interface SnapshotJson {
  /** Always {@linkcode SNAPSHOT_SCHEMA_VERSION}. */
  schemaVersion: number;
  /** Segment name. */
  name: string;
  /** Layout version. */
  layoutVersion: string;
  /** Number of slots. */
  capacity: number;
  /** Field names. */
  fields: string[];
  /** Field kinds: `"thread"` (totals sum it) or `"process"` (totals count each process once). */
  kinds: FieldKind[];
  /** Segment creation time, ms since the epoch. */
  createdAt: number;
  /** Pid of the creator. */
  creatorPid: number;
  /** Snapshot time, ms since the epoch. */
  takenAt: number;
  /** Number of live slots (= slots.length). */
  activeThreads: number;
  /** Slots of dead owners awaiting reclaim (not in slots, not in totals). */
  deadSlots: number;
  /** Slots not read: a write stayed in progress, or the read ran out of time. */
  skippedSlots: number;
  /** Refused registrations, ever. */
  overflowCount: number;
  /** Reclaimed slots, ever. */
  reclaimedCount: number;
  /** Capacity to raise to, present only when overflowCount > 0. */
  suggestedCapacity?: number;
  /** Total of each field over slots (per-process fields: once per process). */
  totals: Record<string, number>;
  /** Live slots, in slot order. */
  slots: SlotJson[];
}

/** The stable JSON form of a snapshot (keys in documented order). */
export function snapshotJson(s: Snapshot): SnapshotJson {
  return {
    schemaVersion: SNAPSHOT_SCHEMA_VERSION,
    name: s.name,
    layoutVersion: s.layoutVersion,
    capacity: s.capacity,
    fields: [...s.fields],
    kinds: [...s.kinds],
    createdAt: s.createdAt,
    creatorPid: s.creatorPid,
    takenAt: s.takenAt,
    activeThreads: s.activeThreads,
    deadSlots: s.deadSlots,
    skippedSlots: s.skippedSlots,
    overflowCount: s.overflowCount,
    reclaimedCount: s.reclaimedCount,
    ...(s.overflowCount > 0 ? { suggestedCapacity: suggestedCapacity(s) } : {}),
    totals: { ...s.totals },
    slots: s.slots.map(slotJson),
  };
}

/** One slot of the JSON document. */
export function slotJson(t: ThreadMemoryStats): SlotJson {
  return {
    slot: t.slot,
    threadId: t.threadId,
    pid: t.pid,
    tid: t.tid,
    label: t.label,
    values: { ...t.values },
    peaks: { ...t.peaks },
    registeredAt: t.registeredAt,
    updatedAt: t.updatedAt,
  };
}
