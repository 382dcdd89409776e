/**
 * The segment behind `memstats serve`: attached read-only, followed by name,
 * checked before every read, and remembered as a short history of totals.
 *
 * A server runs for days while the segment's writers come and go, so the
 * segment may be removed, replaced by a new one of the same name, truncated
 * or overwritten while it is mapped here. Before every read the file behind
 * the name is checked: gone means "down" (`NOT_FOUND`); another inode means
 * the segment was replaced, so the old mapping is dropped and the new one
 * attached; a smaller size or a changed immutable header means the mapping
 * can no longer be trusted (reading past the end of a truncated file would
 * kill the process with SIGBUS), so it is dropped before any slot is read
 * and a fresh attach names what is wrong (`TRUNCATED`, `BAD_MAGIC`, ...).
 * While down, every read tries to attach again, so the server recovers by
 * itself when the segment comes back.
 *
 * The check is a `stat` and a 48-byte `pread` of the file, both read-only.
 * A truncation landing between the check and the read is caught by the
 * shim's read guard, which reports it instead of faulting.
 *
 * The table itself is read at most once per sample tick (a second): each
 * read becomes a {@linkcode Frame}, an immutable copy of the live rows that
 * every request of that second renders from, however long its response
 * takes to send. A request checks the file first, so a removed or replaced
 * segment is noticed at once, not a second later.
 *
 * @module
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { MemstatsError } from "../errors.ts";
import { validateSegmentName } from "../names.ts";
import { MemoryStatsRegistry } from "../registry.ts";
import type { SnapshotSegment } from "../report.ts";
import { type TableSnapshot, totalsRecord } from "../table.ts";

/** Bytes of the header that never change once a segment is ready: magic to totalSize. */
const IMMUTABLE_HEADER = 48;

/** Why the segment cannot be read. */
export interface SourceError {
  /** A `MemstatsError` code (`NOT_FOUND`, `TRUNCATED`, `BAD_MAGIC`, `EACCES`, ...), or `IO`. */
  readonly code: string;
  /** One line saying what is wrong. */
  readonly message: string;
}

/**
 * One read of the segment, kept unchanged while responses render from it:
 * the segment's facts and a copy of the live rows (only the totals and
 * counts when per-slot rows are off).
 */
export interface Frame {
  /** Increases with every read of this source. */
  readonly id: number;
  /** The segment's facts. */
  readonly info: SnapshotSegment;
  /** The read: `count` live rows, totals and counts (rows empty when `perSlot` is false). */
  readonly table: TableSnapshot;
  /** Whether the rows were read (false: `--totals-only`). */
  readonly perSlot: boolean;
}

/** The segment at one moment: readable with a frame, or down with the reason. */
export type SourceState =
  | { readonly up: true; readonly frame: Frame }
  | {
    readonly up: false;
    readonly name: string;
    readonly error: SourceError;
    /** When it went down, ms since the epoch. */
    readonly since: number;
    /** When the check was made, ms since the epoch. */
    readonly takenAt: number;
  };

/** One point of the totals history: `totals` is null while the segment was down. */
export interface HistoryPoint {
  /** Time, ms since the epoch. */
  readonly t: number;
  /** Totals of every field, or null when the segment could not be read. */
  readonly totals: Readonly<Record<string, number>> | null;
}

/** Options of {@linkcode SegmentSource}. */
export interface SourceOptions {
  /** Attach a segment owned by another user. */
  readonly allowForeign?: boolean;
  /** How many history points to keep (default 600: ten minutes at one a second). */
  readonly historySize?: number;
  /** Called when the segment goes down, comes back, or is replaced. */
  readonly onChange?: (state: SourceState, previous: SourceState | undefined) => void;
  /** Read the rows of every slot (default true); false: totals and counts only, for very large tables. */
  readonly perSlot?: boolean;
  /** Time budget of one read of the table, ms (default 3000); slots not reached count as skipped. */
  readonly readBudgetMs?: number;
}

function path(name: string): string {
  return `/dev/shm${name}`;
}

function asSourceError(e: unknown): SourceError {
  if (e instanceof MemstatsError) {
    if (e.code === "NOT_FOUND") {
      return {
        code: e.code,
        message: `segment ${e.segment ?? ""} does not exist (removed, or not created yet)`,
      };
    }
    return { code: e.code, message: e.message };
  }
  const code = (e as { code?: unknown }).code;
  return {
    code: "IO",
    message: `${typeof code === "string" ? code + ": " : ""}${(e as Error)?.message ?? e}`,
  };
}

/** Read `n` bytes at offset 0 of the file behind `name`, read-only; undefined if it cannot. */
function headBytes(name: string, n: number): Uint8Array | undefined {
  let fd: number;
  try {
    fd = openSync(path(name), "r");
  } catch {
    return undefined;
  }
  try {
    const buf = new Uint8Array(n);
    return readSync(fd, buf, 0, n, 0) === n ? buf : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a !== undefined && b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A copy of the first `count` rows of a read, independent of the reader's reused columns. */
function copyTable(t: TableSnapshot): TableSnapshot {
  const n = t.count;
  const c = (a: Float64Array) => a.slice(0, n);
  return {
    fields: t.fields,
    kinds: t.kinds,
    count: n,
    slot: c(t.slot),
    ownerId: c(t.ownerId),
    pid: c(t.pid),
    tid: c(t.tid),
    pidNamespace: c(t.pidNamespace),
    registeredAt: c(t.registeredAt),
    updatedAt: c(t.updatedAt),
    values: t.values.map(c),
    peaks: t.peaks.map(c),
    labels: t.labels.slice(0, n),
    totals: t.totals.slice(),
    deadSlots: t.deadSlots,
    skippedSlots: t.skippedSlots,
    overflowCount: t.overflowCount,
    reclaimedCount: t.reclaimedCount,
    takenAt: t.takenAt,
  };
}

const NO_ROWS = new Float64Array(0);

/** Totals and counts only: no labels decoded, no rows kept. */
function totalsTable(reg: MemoryStatsRegistry): TableSnapshot {
  const takenAt = Date.now();
  const a = reg.aggregateStats();
  const fields = reg.fields;
  return {
    fields,
    kinds: reg.fieldKinds,
    count: a.activeThreads,
    slot: NO_ROWS,
    ownerId: NO_ROWS,
    pid: NO_ROWS,
    tid: NO_ROWS,
    pidNamespace: NO_ROWS,
    registeredAt: NO_ROWS,
    updatedAt: NO_ROWS,
    values: fields.map(() => NO_ROWS),
    peaks: fields.map(() => NO_ROWS),
    labels: [],
    totals: Float64Array.from(fields, (f) => a.totals[f]),
    deadSlots: a.deadSlots,
    skippedSlots: a.skippedSlots,
    overflowCount: a.overflowCount,
    reclaimedCount: a.reclaimedCount,
    takenAt,
  };
}

interface Attached {
  readonly reg: MemoryStatsRegistry;
  readonly ino: number;
  readonly size: number;
  readonly head: Uint8Array | undefined;
}

/**
 * A segment followed by name for a long-running reader.
 *
 * @example
 * ```ts
 * import { SegmentSource } from "./source.ts";
 * const source = new SegmentSource("/memstats-1000");
 * const state = source.read();
 * console.log(state.up ? state.frame.table.count : state.error.message);
 * source.close();
 * ```
 */
export class SegmentSource {
  /** The segment name. */
  readonly name: string;
  readonly #allowForeign: boolean;
  readonly #historySize: number;
  readonly #onChange: SourceOptions["onChange"];
  readonly #perSlot: boolean;
  readonly #budget: number;
  #attached: Attached | undefined;
  #frames = 0;
  #lastReadMs = 0;
  #state: SourceState | undefined;
  #history: HistoryPoint[] = [];
  #fields: readonly string[] = [];

  /** Throws `INVALID_NAME` for a bad name; never for a missing or bad segment. */
  constructor(name: string, options: SourceOptions = {}) {
    validateSegmentName(name);
    this.name = name;
    this.#allowForeign = options.allowForeign === true;
    this.#historySize = options.historySize ?? 600;
    this.#onChange = options.onChange;
    this.#perSlot = options.perSlot !== false;
    this.#budget = options.readBudgetMs ?? 3000;
  }

  /** How long the last read of the table took, ms. */
  get lastReadMs(): number {
    return this.#lastReadMs;
  }

  /**
   * How long to wait before the next sample: a second, or five times the
   * last read when reading the table takes longer than 200 ms (a very large
   * table), so that reading never takes more than a fifth of the time.
   */
  get sampleIntervalMs(): number {
    return Math.max(1000, 5 * this.#lastReadMs);
  }

  /** Whether frames hold the rows of every live slot (false: totals and counts only). */
  get perSlot(): boolean {
    return this.#perSlot;
  }

  /** The last state read, if any. */
  get state(): SourceState | undefined {
    return this.#state;
  }

  /** The fields of the segment, as last seen (empty before it was ever read). */
  get fields(): readonly string[] {
    return this.#fields;
  }

  /** Check the segment and read it now. Never throws. */
  read(): SourceState {
    const now = Date.now();
    const started = performance.now();
    let next: SourceState;
    try {
      const reg = this.#check();
      const info = reg.info;
      const table = this.#perSlot ? copyTable(reg.snapshot()) : totalsTable(reg);
      next = { up: true, frame: { id: ++this.#frames, info, table, perSlot: this.#perSlot } };
      this.#fields = info.fields;
      this.#lastReadMs = performance.now() - started;
    } catch (e) {
      this.#detach();
      const error = asSourceError(e);
      const prev = this.#state;
      const since = prev && !prev.up && prev.error.code === error.code ? prev.since : now;
      next = { up: false, name: this.name, error, since, takenAt: now };
    }
    const prev = this.#state;
    this.#state = next;
    if (this.#onChange && changed(prev, next)) this.#onChange(next, prev);
    return next;
  }

  /**
   * The state to answer a request with: the last read while it is younger
   * than `maxAgeMs` (default: twice {@linkcode SegmentSource.sampleIntervalMs},
   * so that requests between two samples share the last one) and the file
   * behind the name is still the one read; otherwise a new read. Never throws.
   */
  current(maxAgeMs: number = 2 * this.sampleIntervalMs): SourceState {
    const s = this.#state;
    if (s?.up && Date.now() - s.frame.table.takenAt < maxAgeMs && this.#unchanged()) return s;
    return this.read();
  }

  /** Read now and add the totals to the history; returns the state. */
  sample(): SourceState {
    const s = this.read();
    this.#history.push({
      t: s.up ? s.frame.table.takenAt : s.takenAt,
      totals: s.up ? totalsRecord(s.frame.table) : null,
    });
    if (this.#history.length > this.#historySize) {
      this.#history.splice(0, this.#history.length - this.#historySize);
    }
    return s;
  }

  /** The totals history, oldest first. */
  history(): readonly HistoryPoint[] {
    return this.#history;
  }

  /** Drop the mapping. */
  close(): void {
    this.#detach();
  }

  /** Whether the attached mapping still matches the file behind the name. */
  #unchanged(): boolean {
    const a = this.#attached;
    if (a === undefined) return false;
    try {
      const st = statSync(path(this.name), { throwIfNoEntry: false });
      return st !== undefined && st.ino === a.ino && st.size >= a.size &&
        sameBytes(headBytes(this.name, IMMUTABLE_HEADER), a.head);
    } catch {
      return false;
    }
  }

  /** The registry to read, after making sure the mapping still matches the file. */
  #check(): MemoryStatsRegistry {
    const st = statSync(path(this.name), { throwIfNoEntry: false });
    if (st === undefined) {
      this.#detach();
      throw new MemstatsError("NOT_FOUND", `segment ${this.name} does not exist`, this.name);
    }
    const a = this.#attached;
    if (a !== undefined) {
      // Another file under the name, a shorter file, or a rewritten header: drop the mapping unread.
      if (
        st.ino === a.ino && st.size >= a.size && sameBytes(headBytes(this.name, IMMUTABLE_HEADER), a.head)
      ) {
        return a.reg;
      }
      this.#detach();
    }
    const reg = MemoryStatsRegistry.open(this.name, {
      readOnly: true,
      create: false,
      allowForeignOwner: this.#allowForeign,
      openTimeoutMs: 100,
      readBudgetMs: this.#budget,
    });
    this.#attached = {
      reg,
      ino: st.ino,
      size: reg.info.size,
      head: headBytes(this.name, IMMUTABLE_HEADER),
    };
    return reg;
  }

  #detach(): void {
    const a = this.#attached;
    this.#attached = undefined;
    a?.reg.close();
  }
}

function changed(prev: SourceState | undefined, next: SourceState): boolean {
  if (prev === undefined) return true;
  if (prev.up !== next.up) return true;
  if (!prev.up && !next.up) return prev.error.code !== next.error.code;
  if (prev.up && next.up) return prev.frame.info.createdAt !== next.frame.info.createdAt;
  return false;
}
