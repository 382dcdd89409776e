/**
 * One read of the whole table, as columns: the values and peaks of each
 * field, owner ids, pids, tids, times and labels of every live slot, plus
 * the totals. `aggregateStats()`, `perThreadStats()` and every report are
 * built from it, so they all leave out the same dead owners and count
 * totals the same way:
 *
 * - a slot whose owner is certainly dead (see `liveness.ts`) is not listed
 *   and not in any total; it is counted in {@linkcode TableSnapshot.deadSlots}
 *   until someone reclaims it;
 * - a `"thread"` field's total is the sum over listed slots; a `"process"`
 *   field's total counts each process once, with the largest value among
 *   its listed slots (every thread of a process reports the same figure);
 * - a slot the reader could not copy consistently (its writer stayed inside
 *   `update()`) is counted in {@linkcode TableSnapshot.skippedSlots}.
 *
 * @module
 */
import {
  type Batch,
  CHUNK,
  IO,
  R,
  resetSums,
  SCAN_LABELS,
  SCAN_LIVE,
  SCAN_NO_RECORDS,
  scanBatch,
  takeSums,
} from "./reader.ts";
import type { Segment } from "./segment.ts";
import { FIELD_NAME_PATTERN, type FieldKind } from "./names.ts";

/** Memory statistics of one live slot. */
export interface ThreadMemoryStats {
  /** Slot index. */
  readonly slot: number;
  /** Unique owner id, never reused (the claim's id: a new claim of the same thread gets a new one). */
  readonly threadId: number;
  /** Owner process id. */
  readonly pid: number;
  /** Owner kernel thread id. */
  readonly tid: number;
  /** Label given at registration ("" when none), with control and bidi characters replaced by U+FFFD. */
  readonly label: string;
  /** Value of the first field (`arena_bytes` by default). */
  readonly arenaBytes: number;
  /** Every field's value. */
  readonly values: Readonly<Record<string, number>>;
  /** Every field's high-water mark since registration. */
  readonly peaks: Readonly<Record<string, number>>;
  /** Registration time, ms since the epoch. */
  readonly registeredAt: number;
  /** Last update time (coarse, see `clock.ts`), ms since the epoch. */
  readonly updatedAt: number;
}

/** Totals over all live slots. */
export interface AggregateMemoryStats {
  /** Number of live slots. */
  readonly activeThreads: number;
  /** Total of the first field over live slots. */
  readonly totalArenaBytes: number;
  /** Registrations refused because the table was full. */
  readonly overflowCount: number;
  /** Slots taken back from dead owners. */
  readonly reclaimedCount: number;
  /** Slots whose owner is dead and which await reclaim; not counted anywhere else. */
  readonly deadSlots: number;
  /** Slots left out of this read: a write stayed in progress, or the time budget ran out. */
  readonly skippedSlots: number;
  /** Total of every field over live slots (per-process fields: once per process). */
  readonly totals: Readonly<Record<string, number>>;
}

/**
 * One read of the table as columns. Row `k` (0 ≤ k < `count`) is one live
 * slot, in slot order. The arrays are reused by the next read through the
 * same object: copy what you keep.
 */
export interface TableSnapshot {
  /** Field names. */
  readonly fields: readonly string[];
  /** Field kinds. */
  readonly kinds: readonly FieldKind[];
  /** Number of rows (live slots listed). */
  readonly count: number;
  /** Slot index of each row. */
  readonly slot: Float64Array;
  /** Owner id of each row. */
  readonly ownerId: Float64Array;
  /** Owner pid of each row. */
  readonly pid: Float64Array;
  /** Owner tid of each row. */
  readonly tid: Float64Array;
  /** Owner pid namespace (inode) of each row. */
  readonly pidNamespace: Float64Array;
  /** Registration time of each row, ms since the epoch. */
  readonly registeredAt: Float64Array;
  /** Last update of each row, ms since the epoch. */
  readonly updatedAt: Float64Array;
  /** `values[j][k]`: field `j` of row `k`. */
  readonly values: readonly Float64Array[];
  /** `peaks[j][k]`: high-water mark of field `j` of row `k`, never below its value. */
  readonly peaks: readonly Float64Array[];
  /** Label of each row. */
  readonly labels: readonly string[];
  /** Totals of each field over the rows. */
  readonly totals: Float64Array;
  /** Slots whose owner is dead (not listed). */
  readonly deadSlots: number;
  /** Slots not read consistently or not reached in time (not listed). */
  readonly skippedSlots: number;
  /** Registrations refused, ever. */
  readonly overflowCount: number;
  /** Slots reclaimed, ever. */
  readonly reclaimedCount: number;
  /** When the read started, ms since the epoch. */
  readonly takenAt: number;
}

/** Per-segment decoded labels: decoded once per claim (labels never change within one). */
interface LabelCache {
  readonly owner: Float64Array;
  readonly text: string[];
}

const labelCaches = new WeakMap<Segment, LabelCache>();
const decoder = new TextDecoder(); // invalid UTF-8 becomes U+FFFD
// C0 and C1 controls, and the bidirectional overrides, isolates and marks: a label must never
// move a terminal's cursor, change its title or clipboard, or reorder the text around it.
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A label as readers show it: UTF-8 up to the first NUL, unsafe characters replaced by U+FFFD. */
export function decodeLabel(raw: Uint8Array): string {
  const end = raw.indexOf(0);
  return decoder.decode(end === -1 ? raw : raw.subarray(0, end)).replace(UNSAFE, "\ufffd");
}

function labelCacheOf(seg: Segment): LabelCache {
  let c = labelCaches.get(seg);
  if (c === undefined) {
    c = { owner: new Float64Array(seg.geometry.capacity), text: [] };
    labelCaches.set(seg, c);
  }
  return c;
}

/** A {@linkcode TableSnapshot} whose columns grow as needed and are reused. */
export class Columns implements TableSnapshot {
  readonly fields: readonly string[];
  readonly kinds: readonly FieldKind[];
  count = 0;
  slot: Float64Array = new Float64Array(0);
  ownerId: Float64Array = new Float64Array(0);
  pid: Float64Array = new Float64Array(0);
  tid: Float64Array = new Float64Array(0);
  pidNamespace: Float64Array = new Float64Array(0);
  registeredAt: Float64Array = new Float64Array(0);
  updatedAt: Float64Array = new Float64Array(0);
  values: Float64Array[] = [];
  peaks: Float64Array[] = [];
  labels: string[] = [];
  readonly totals: Float64Array;
  deadSlots = 0;
  skippedSlots = 0;
  overflowCount = 0;
  reclaimedCount = 0;
  takenAt = 0;

  constructor(fields: readonly string[], kinds: readonly FieldKind[]) {
    this.fields = fields;
    this.kinds = kinds;
    this.totals = new Float64Array(fields.length);
    this.#grow(64);
  }

  #grow(rows: number): void {
    const more = (a: Float64Array) => {
      const b = new Float64Array(rows);
      b.set(a);
      return b;
    };
    this.slot = more(this.slot);
    this.ownerId = more(this.ownerId);
    this.pid = more(this.pid);
    this.tid = more(this.tid);
    this.pidNamespace = more(this.pidNamespace);
    this.registeredAt = more(this.registeredAt);
    this.updatedAt = more(this.updatedAt);
    this.values = this.fields.map((_, j) => more(this.values[j] ?? new Float64Array(0)));
    this.peaks = this.fields.map((_, j) => more(this.peaks[j] ?? new Float64Array(0)));
  }

  /** Append a batch's records as rows; labels from `cache` (decoded once per claim), if given. */
  #take(b: Batch, fc: number, cache: LabelCache | undefined): void {
    const { io, size } = b;
    const { slot, ownerId, pid, tid, pidNamespace, registeredAt, updatedAt, values, peaks, labels } = this;
    let row = this.count;
    for (let k = 0, at = IO.head; k < b.count; k++, at += size, row++) {
      const s = io[at + R.slot];
      const id = io[at + R.ownerHi] * 0x100000000 + io[at + R.ownerLo];
      slot[row] = s;
      ownerId[row] = id;
      pid[row] = io[at + R.pid];
      tid[row] = io[at + R.tid];
      pidNamespace[row] = io[at + R.pidNamespace];
      registeredAt[row] = io[at + R.registeredAt];
      updatedAt[row] = io[at + R.updatedAt];
      const v0 = at + R.values;
      for (let j = 0; j < fc; j++) {
        const v = io[v0 + j];
        const p = io[v0 + fc + j];
        values[j][row] = v;
        peaks[j][row] = p > v ? p : v; // the value's store may land before the peak's
      }
      if (cache !== undefined) {
        if (cache.owner[s] !== id) {
          const byteAt = (v0 + 2 * fc) * 8;
          cache.text[s] = decodeLabel(b.bytes.subarray(byteAt, byteAt + 64));
          cache.owner[s] = id;
        }
        labels[row] = cache.text[s];
      }
    }
    this.count = row;
  }

  /**
   * Read slots [from, from + slots) of `seg` (default: all) into these
   * columns: live slots only (the shim judges owners; see `reader.ts`).
   * `budgetMs` bounds the whole read (0: no bound); slots not reached are
   * counted as skipped.
   */
  read(seg: Segment, budgetMs: number, labels: boolean, from = 0, slots = -1): this {
    const g = seg.geometry;
    const end = slots < 0 ? g.capacity : from + slots;
    const fc = g.fieldCount;
    const deadline = budgetMs > 0 ? performance.now() + budgetMs : 0;
    this.takenAt = Date.now();
    this.count = 0;
    this.deadSlots = 0;
    this.skippedSlots = 0;
    resetSums(seg);
    const flags = SCAN_LIVE | (labels ? SCAN_LABELS : 0);
    for (let base = from; base < end; base += CHUNK) {
      const want = Math.min(CHUNK, end - base);
      if (deadline > 0 && performance.now() > deadline) {
        this.skippedSlots += end - base;
        break;
      }
      const b = scanBatch(seg, base, want, flags, deadline);
      this.overflowCount = b.overflowCount;
      this.reclaimedCount = b.reclaimedCount;
      this.deadSlots += b.dead;
      this.skippedSlots += b.skipped + (want - b.scanned);
      if (this.count + b.count > this.slot.length) {
        this.#grow(Math.min(g.capacity, Math.max(this.slot.length * 2, this.count + b.count)));
      }
      this.#take(b, fc, labels ? labelCacheOf(seg) : undefined);
      if (b.scanned < want) {
        this.skippedSlots += end - base - want;
        break;
      }
    }
    // Per-thread fields were summed by the shim as it read; per-process ones need the rows.
    const sums = takeSums(seg);
    for (let j = 0; j < fc; j++) {
      this.totals[j] = this.kinds[j] === "thread"
        ? sums[j]
        : fieldTotal("process", this.count, this.values[j], this.pid, this.pidNamespace);
    }
    return this;
  }
}

/**
 * Totals of a read without its rows, when every field is per thread: the
 * shim counts and sums as it reads, and no record reaches JavaScript (the
 * cost of `aggregateStats()`). Returns undefined when a field is per process.
 * `judge: false` counts every owner, dead or alive: only for measuring what
 * judging costs (scripts/bench_protocol.ts).
 */
export function totalsOnly(seg: Segment, budgetMs: number, judge = true): AggregateMemoryStats | undefined {
  if (seg.kinds.includes("process")) return undefined;
  const g = seg.geometry;
  const deadline = budgetMs > 0 ? performance.now() + budgetMs : 0;
  let live = 0;
  let dead = 0;
  let skipped = 0;
  let overflowCount = 0;
  let reclaimedCount = 0;
  resetSums(seg);
  for (let base = 0; base < g.capacity; base += CHUNK) {
    const want = Math.min(CHUNK, g.capacity - base);
    if (deadline > 0 && performance.now() > deadline) {
      skipped += g.capacity - base;
      break;
    }
    const b = scanBatch(seg, base, want, (judge ? SCAN_LIVE : 0) | SCAN_NO_RECORDS, deadline);
    live += b.live;
    dead += b.dead;
    skipped += b.skipped + (want - b.scanned);
    overflowCount = b.overflowCount;
    reclaimedCount = b.reclaimedCount;
    if (b.scanned < want) {
      skipped += g.capacity - base - want;
      break;
    }
  }
  const sums = takeSums(seg);
  const totals: Record<string, number> = {};
  for (let j = 0; j < g.fieldCount; j++) totals[seg.fields[j]] = sums[j];
  return {
    activeThreads: live,
    totalArenaBytes: sums[0],
    overflowCount,
    reclaimedCount,
    deadSlots: dead,
    skippedSlots: skipped,
    totals,
  };
}

/**
 * The total of one field over `n` rows: the one definition of totals.
 * `"thread"`: the sum. `"process"`: each process, named by (pid namespace,
 * pid), counted once, with its largest value.
 */
export function fieldTotal(
  kind: FieldKind,
  n: number,
  values: ArrayLike<number>,
  pids: ArrayLike<number>,
  namespaces: ArrayLike<number>,
): number {
  let total = 0;
  if (kind === "thread") {
    for (let k = 0; k < n; k++) total += values[k];
    return total;
  }
  const largest = new Map<number | string, number>();
  for (let k = 0; k < n; k++) {
    const key = namespaces[k] === namespaces[0] ? pids[k] : `${namespaces[k]}:${pids[k]}`;
    const prev = largest.get(key);
    if (prev === undefined || values[k] > prev) largest.set(key, values[k]);
  }
  for (const v of largest.values()) total += v;
  return total;
}

/** Totals as a record of field name to total. */
export function totalsRecord(t: TableSnapshot): Record<string, number> {
  const out: Record<string, number> = {};
  for (let j = 0; j < t.fields.length; j++) out[t.fields[j]] = t.totals[j];
  return out;
}

/** The aggregate of a read. */
export function aggregateOf(t: TableSnapshot): AggregateMemoryStats {
  return {
    activeThreads: t.count,
    totalArenaBytes: t.totals[0],
    overflowCount: t.overflowCount,
    reclaimedCount: t.reclaimedCount,
    deadSlots: t.deadSlots,
    skippedSlots: t.skippedSlots,
    totals: totalsRecord(t),
  };
}

/** Builds row `k` of a read as a record. */
type RowBuilder = (t: TableSnapshot, k: number) => ThreadMemoryStats;

/** Row `k` of a read as a record; self-contained (it copies what it needs). */
export function rowRecord(t: TableSnapshot, k: number): ThreadMemoryStats {
  let build = rowBuilders.get(t.fields);
  if (build === undefined) {
    build = compileRowBuilder(t.fields) ?? genericRow;
    rowBuilders.set(t.fields, build);
  }
  return build(t, k);
}

const rowBuilders = new WeakMap<readonly string[], RowBuilder>();

/** Any schema's rows: `values` and `peaks` filled by name, one field at a time. */
export function genericRow(t: TableSnapshot, k: number): ThreadMemoryStats {
  const values: Record<string, number> = {};
  const peaks: Record<string, number> = {};
  const fields = t.fields;
  for (let j = 0; j < fields.length; j++) {
    values[fields[j]] = t.values[j][k];
    peaks[fields[j]] = t.peaks[j][k];
  }
  return {
    slot: t.slot[k],
    threadId: t.ownerId[k],
    pid: t.pid[k],
    tid: t.tid[k],
    label: t.labels[k],
    arenaBytes: t.values[0][k],
    values,
    peaks,
    registeredAt: t.registeredAt[k],
    updatedAt: t.updatedAt[k],
  };
}

/**
 * One schema's rows as object literals naming each field: records of one
 * shape, built 1.5× (Bun) to 3.5× (Deno, Node) faster than
 * {@linkcode genericRow}, which stores by computed name. The same record,
 * field for field and in the same order. Undefined when a name is not a
 * valid field name (the code is generated from the names: only names that
 * `FIELD_NAME_PATTERN` allows, quoted, are ever put in it) or when this
 * process forbids code generation (a CSP, or Node's
 * `--disallow-code-generation-from-strings`).
 */
export function compileRowBuilder(fields: readonly string[]): RowBuilder | undefined {
  if (fields.length === 0 || !fields.every((f) => FIELD_NAME_PATTERN.test(f))) return undefined;
  const record = (cols: string) =>
    `{ ${fields.map((f, j) => `${JSON.stringify(f)}: ${cols}[${j}][k]`).join(", ")} }`;
  try {
    return new Function(
      "t",
      "k",
      `"use strict";
      const v = t.values, p = t.peaks;
      return { slot: t.slot[k], threadId: t.ownerId[k], pid: t.pid[k], tid: t.tid[k], label: t.labels[k],
        arenaBytes: v[0][k], values: ${record("v")}, peaks: ${record("p")},
        registeredAt: t.registeredAt[k], updatedAt: t.updatedAt[k] };`,
    ) as RowBuilder;
  } catch {
    return undefined;
  }
}

/**
 * The rows of a read, built one at a time as they are iterated (a reader
 * that only sums or prints them never holds them all). `done` runs once
 * the last row was produced, so the columns can be reused.
 */
export function rows(t: Columns, done: () => void): IterableIterator<ThreadMemoryStats> {
  let k = 0;
  const it: IterableIterator<ThreadMemoryStats> = {
    next(): IteratorResult<ThreadMemoryStats> {
      if (k < t.count) return { value: rowRecord(t, k++), done: false };
      if (k === t.count) {
        k++;
        done();
      }
      return { value: undefined, done: true };
    },
    [Symbol.iterator]() {
      return it;
    },
  };
  return it;
}
