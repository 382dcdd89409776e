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
 * A truncation landing between the check and the read is not caught; the
 * window is a few microseconds.
 *
 * @module
 */
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { MemstatsError } from "../errors.ts";
import { validateSegmentName } from "../names.ts";
import { MemoryStatsRegistry } from "../registry.ts";
import { type Snapshot, takeSnapshot } from "../report.ts";

/** Bytes of the header that never change once a segment is ready: magic to totalSize. */
const IMMUTABLE_HEADER = 48;

/** Why the segment cannot be read. */
export interface SourceError {
  /** A `MemstatsError` code (`NOT_FOUND`, `TRUNCATED`, `BAD_MAGIC`, `EACCES`, ...), or `IO`. */
  readonly code: string;
  /** One line saying what is wrong. */
  readonly message: string;
}

/** The segment at one moment: readable with a snapshot, or down with the reason. */
export type SourceState =
  | { readonly up: true; readonly snapshot: Snapshot }
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
 * console.log(state.up ? state.snapshot.activeThreads : state.error.message);
 * source.close();
 * ```
 */
export class SegmentSource {
  /** The segment name. */
  readonly name: string;
  readonly #allowForeign: boolean;
  readonly #historySize: number;
  readonly #onChange: SourceOptions["onChange"];
  #attached: Attached | undefined;
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
    let next: SourceState;
    try {
      next = { up: true, snapshot: takeSnapshot(this.#check()) };
      this.#fields = next.snapshot.fields;
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

  /** Read now and add the totals to the history; returns the state. */
  sample(): SourceState {
    const s = this.read();
    this.#history.push({ t: s.up ? s.snapshot.takenAt : s.takenAt, totals: s.up ? s.snapshot.totals : null });
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
  if (prev.up && next.up) return prev.snapshot.createdAt !== next.snapshot.createdAt;
  return false;
}
