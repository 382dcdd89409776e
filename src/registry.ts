/**
 * Cross-process memory statistics registry in POSIX shared memory.
 *
 * Every process and Worker thread that writes figures claims its own slot in
 * one shared table and updates it with plain single stores; any process can
 * read the whole table at any time, without locks and without asking the
 * writers.
 *
 * ```text
 * ┌──────────────────────────── segment /memstats-1000 ─────────────────────────────┐
 * │ header (64-byte lines): magic, version, geometry, field names and kinds,        │
 * │                         state=READY, nextOwnerId, overflowCount, reclaimedCount  │
 * ├──────────────────────────────────────────────────────────────────────────────────┤
 * │ slot 0 (stride: whole cache lines)     │ slot 1                │ ... slot N-1    │
 * │  owner  u64  0 | claiming | owner id   │  owner  u64           │                 │
 * │  seq    u32  seqlock for update()      │  ...                  │                 │
 * │  pid, tid, start time, pid namespace   │                       │                 │
 * │  registeredAt, updatedAt, label        │                       │                 │
 * │  values f64[fields], peaks f64[fields] │                       │                 │
 * └──────────────────────────────────────────────────────────────────────────────────┘
 *   writer (claim.ts, slot.ts): CAS 0 → claim word, fill, CAS → id; then plain stores
 *   reader (reader.ts, table.ts): seq, owner, copy, owner, seq; dead owners left out
 *   reclaim (claim.ts): owner's (pid, tid, start time) gone → CAS id → 0
 * ```
 *
 * This class is the facade: it opens segments, hands out slot handles, and
 * builds reads. The protocol lives in `claim.ts` (writers) and `reader.ts`
 * (readers); `docs/FORMAT.md` describes every byte and every memory order.
 *
 * @module
 */
import { releaseClock, retainClock } from "./clock.ts";
import { census, claimSlot, deathsSeen, reclaimDead, releaseSlot } from "./claim.ts";
import { MemstatsError } from "./errors.ts";
import type { NativeShim } from "./ffi/mod.ts";
import { S, slotOffset, VERSION_MAJOR } from "./layout.ts";
import { currentEvidence, type Evidence } from "./liveness.ts";
import { encodeLabel, type FieldKind, validateSegmentName } from "./names.ts";
import { readCounters } from "./reader.ts";
import { runtime } from "./runtime/mod.ts";
import {
  openSegment,
  type Segment,
  type SegmentFileInfo,
  type SegmentOptions,
  unlinkSegment,
} from "./segment.ts";
import { detachSlot, Slot, slotDoubles, type SlotHandle } from "./slot.ts";
import {
  type AggregateMemoryStats,
  aggregateOf,
  Columns,
  rowRecord,
  rows,
  type TableSnapshot,
  type ThreadMemoryStats,
  totalsOnly,
} from "./table.ts";

/** Options for {@linkcode MemoryStatsRegistry.open}. */
export interface OpenOptions extends SegmentOptions {
  /**
   * The most a read (`aggregateStats()`, `perThreadStats()`, `snapshot()`)
   * may take, in ms (default 1000); slots not reached in time are counted
   * as skipped. Bounds a reader facing a huge or hostile table.
   */
  readBudgetMs?: number;
}

/** Options for {@linkcode MemoryStatsRegistry.register}. */
export interface RegisterOptions {
  /** A short UTF-8 label shown by readers; cut to 63 bytes at a character boundary. */
  label?: string;
}

/** Facts about an open segment, for diagnostics. */
export interface SegmentInfo {
  /** Segment name. */
  readonly name: string;
  /** Layout version, e.g. `"1.1"`. */
  readonly layoutVersion: string;
  /** Number of slots. */
  readonly capacity: number;
  /** Field names. */
  readonly fields: readonly string[];
  /** Field kinds, one per field. */
  readonly kinds: readonly FieldKind[];
  /** Bytes mapped. */
  readonly size: number;
  /** Creation time, ms since the epoch. */
  readonly createdAt: number;
  /** Pid of the creating process. */
  readonly creatorPid: number;
  /** Owner uid and permission bits of the file. */
  readonly file: SegmentFileInfo;
}

// After a reclaim on a full table frees nothing, registrations do not try again for this long
// (unless a reader of this registry has since seen an owner die): a full table of live owners
// stays full, and judging every owner costs microseconds per slot.
const RECLAIM_RETRY_MS = 1000;
// The most one registration spends reclaiming on a full table.
const RECLAIM_BUDGET_MS = 100;

// Registries of this JS thread that own slots: released at exit. Held strongly: a claimed slot
// belongs to its thread until it is released, closed, or the thread ends, whether or not the
// program still holds the registry or the handle.
const openRegistries = new Set<MemoryStatsRegistry>();
let exitHookInstalled = false;
let releaseAllOf: (r: MemoryStatsRegistry) => void;
let ourEvidence: Evidence | undefined;
const KEY = Symbol("MemoryStatsRegistry");

function evidence(n: NativeShim): Evidence {
  return (ourEvidence ??= currentEvidence(n));
}

/** Where `#lastValues` reads a slot: its doubles, the same memory as bytes, and the seq word read. */
interface Scratch {
  readonly doubles: Float64Array;
  readonly bytes: Uint8Array;
  readonly seq: Uint32Array;
}

function newScratch(doubles: number): Scratch {
  const d = new Float64Array(doubles);
  return { doubles: d, bytes: new Uint8Array(d.buffer), seq: new Uint32Array(1) };
}

function installExitHook(n: NativeShim): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const rt = runtime();
  const main = rt.isMainThread;
  rt.onExit(() => {
    for (const r of openRegistries) releaseAllOf(r);
    // The process is ending: its Workers' slots go too, even while the Workers still run.
    if (main) n.ms_release_all();
  });
}

/**
 * Registries dropped without `close()`: once nothing can reach them (so no
 * view of the mapping is left either), unmap. A registry that owns a slot
 * is always reachable (`openRegistries`), so only readers and writers
 * without a slot are finalized.
 */
const dropped = new FinalizationRegistry<Segment>((seg) => seg.unmap());

/**
 * A registry of per-thread memory figures shared by every process that opens
 * the same segment name.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry } from "@memstats/shm";
 *
 * using registry = MemoryStatsRegistry.open("/memstats-example");
 * const slot = registry.register({ label: "main" });
 * if (slot !== null) registry.updateArena(slot, 1024);
 * console.log(registry.aggregateStats()); // { activeThreads: 1, totalArenaBytes: 1024, ... }
 * MemoryStatsRegistry.unlink("/memstats-example");
 * ```
 */
export class MemoryStatsRegistry implements Disposable {
  readonly #seg: Segment;
  readonly #fieldIndex: ReadonlyMap<string, number>;
  readonly #budget: number;
  #handles: (Slot | undefined)[] | undefined;
  #owned = 0;
  #hint = 0;
  #scratch: Scratch | undefined;
  #closed = false;
  #lastFruitlessReclaim = -Infinity;
  #deathsAtFruitless = 0;
  #columns: Columns | undefined;
  readonly #spare: Columns[] = [];

  static {
    releaseAllOf = (r) => r.#releaseAll();
  }

  /** Not callable: use {@linkcode MemoryStatsRegistry.open}. */
  private constructor(key: symbol, seg: Segment, budget: number) {
    if (key !== KEY) throw new TypeError("use MemoryStatsRegistry.open()");
    this.#seg = seg;
    this.#budget = budget;
    this.#fieldIndex = new Map(seg.fields.map((f, i) => [f, i]));
  }

  /**
   * Create the segment `name` or attach to it.
   *
   * Creating: `capacity` slots (default 64) of `fields` (default
   * `["arena_bytes"]`), mode `0o600`, its memory reserved at once (a full
   * /dev/shm is a `NO_SPACE` error, never a later crash). Attaching:
   * `capacity` and `fields`, when given, must match the segment's
   * (`SCHEMA` otherwise).
   *
   * @example
   * ```ts
   * import { MemoryStatsRegistry } from "@memstats/shm";
   * using reader = MemoryStatsRegistry.open("/memstats-1000", { readOnly: true });
   * for (const t of reader.perThreadStats()) console.log(t.label, t.arenaBytes);
   * ```
   */
  static open(name: string, options: OpenOptions = {}): MemoryStatsRegistry {
    validateSegmentName(name); // before loading (or building) the shim: a bad name makes no system call
    const budget = options.readBudgetMs ?? 1000;
    if (!(budget > 0)) {
      throw new MemstatsError("INVALID_ARGUMENT", `readBudgetMs must be a number > 0, got ${budget}`);
    }
    const seg = openSegment(name, options);
    const r = new MemoryStatsRegistry(KEY, seg, budget);
    dropped.register(r, seg, r);
    return r;
  }

  /**
   * Remove the segment name. Processes that have it mapped keep working on
   * their mapping; new opens create a fresh segment. Returns false when the
   * name did not exist.
   *
   * @example
   * ```ts
   * import { MemoryStatsRegistry } from "@memstats/shm";
   * MemoryStatsRegistry.unlink("/memstats-example");
   * ```
   */
  static unlink(name: string): boolean {
    validateSegmentName(name);
    return unlinkSegment(name);
  }

  /** Segment name. */
  get name(): string {
    return this.#seg.name;
  }

  /** Number of slots. */
  get capacity(): number {
    return this.#seg.geometry.capacity;
  }

  /** Field names; the first one is the one `updateArena` writes. */
  get fields(): readonly string[] {
    return this.#seg.fields;
  }

  /** Field kinds, one per field: `"thread"` (summed) or `"process"` (counted once per process). */
  get fieldKinds(): readonly FieldKind[] {
    return this.#seg.kinds;
  }

  /** Whether the registry was opened with `readOnly: true`. */
  get readOnly(): boolean {
    return this.#seg.readOnly;
  }

  /** Whether this call created the segment. */
  get created(): boolean {
    return this.#seg.created;
  }

  /** Registrations refused because the table was full. */
  get overflowCount(): number {
    this.#assertOpen();
    return readCounters(this.#seg).overflowCount;
  }

  /** Slots taken back from dead owners, ever. */
  get reclaimedCount(): number {
    this.#assertOpen();
    return readCounters(this.#seg).reclaimedCount;
  }

  /** Facts about the segment. */
  get info(): SegmentInfo {
    this.#assertOpen();
    const seg = this.#seg;
    return {
      name: seg.name,
      layoutVersion: `${VERSION_MAJOR}.${seg.versionMinor}`,
      capacity: seg.geometry.capacity,
      fields: seg.fields,
      kinds: seg.kinds,
      size: seg.geometry.totalSize,
      createdAt: seg.createdAt,
      creatorPid: seg.creatorPid,
      file: seg.info,
    };
  }

  /**
   * Claim a slot for the calling thread: its index, or `null` when the table
   * is full even after reclaiming dead owners' slots (then `overflowCount`
   * goes up by one).
   */
  register(options?: RegisterOptions): number | null {
    return this.registerSlot(options)?.index ?? null;
  }

  /**
   * Like {@linkcode MemoryStatsRegistry.register}, returning the slot's handle
   * (the fastest way to update it), or `null` when the table is full.
   *
   * @example
   * ```ts
   * import { MemoryStatsRegistry } from "@memstats/shm";
   * using reg = MemoryStatsRegistry.open("/memstats-example");
   * using slot = reg.registerSlot({ label: "worker" });
   * slot?.set(4096);
   * ```
   */
  registerSlot(options?: RegisterOptions): SlotHandle | null {
    this.#assertWritable();
    const label = encodeLabel(options?.label);
    const seg = this.#seg;
    const ev = evidence(seg.native);
    let claim = claimSlot(seg, ev, label, this.#hint);
    // Full: free dead owners' slots and scan again. Racing registrants may take what we freed
    // (or free slots themselves), so repeat while reclaim finds any; after a reclaim that found
    // nothing, a full table is trusted to stay full for a while.
    const now = Date.now();
    if (
      claim === null &&
      (now - this.#lastFruitlessReclaim >= RECLAIM_RETRY_MS || deathsSeen(seg) !== this.#deathsAtFruitless)
    ) {
      const deadline = performance.now() + RECLAIM_BUDGET_MS;
      for (let round = 0; claim === null && round < 8; round++) {
        const freed = reclaimDead(seg, { fresh: false, deadline });
        claim = claimSlot(seg, ev, label, this.#hint);
        if (freed === 0) {
          if (claim === null) {
            this.#lastFruitlessReclaim = now;
            this.#deathsAtFruitless = deathsSeen(seg);
          }
          break;
        }
      }
    }
    if (claim === null) {
      seg.bump("overflowCount");
      return null;
    }
    this.#hint = (claim.index + 1) % seg.geometry.capacity;
    this.#lastFruitlessReclaim = -Infinity;
    return this.#adopt(claim.index, claim.id);
  }

  /** The handle of a slot this registry owns, or undefined. */
  slot(index: number): SlotHandle | undefined {
    return this.#handles?.[index];
  }

  /**
   * Set the first field of slot `slotIndex` (one 8-byte store). An index out
   * of range, or of a slot this registry does not own, is ignored (the
   * index-based API of the Rust registry this one follows); a closed or
   * read-only registry throws.
   */
  updateArena(slotIndex: number, bytes: number): void {
    const h = this.#handles?.[slotIndex];
    if (h !== undefined) h.set(bytes);
    else if (this.#seg.readOnly || this.#closed) this.#assertWritable();
  }

  /** Give slot `slotIndex` back if this registry owns it. */
  release(slotIndex: number): void {
    this.#assertWritable();
    this.#handles?.[slotIndex]?.release();
  }

  /**
   * Take back every slot whose owner is certainly dead: its process or
   * thread is gone, or its pid now names another process. Returns how many.
   * Live owners are never touched.
   */
  reclaim(): number {
    this.#assertWritable();
    return reclaimDead(this.#seg);
  }

  /**
   * How many taken slots have a live owner and how many a dead one (which
   * `reclaim()` would free). Works on a read-only registry; writes nothing.
   *
   * @example
   * ```ts
   * import { MemoryStatsRegistry } from "@memstats/shm";
   * using r = MemoryStatsRegistry.open("/memstats-1000", { readOnly: true });
   * if (r.ownerCensus().live === 0) console.log("nobody is writing");
   * ```
   */
  ownerCensus(): { live: number; dead: number } {
    this.#assertOpen();
    return census(this.#seg);
  }

  /**
   * Totals over live slots. Slots of dead
   * owners are left out and counted in `deadSlots`.
   *
   * @example
   * ```ts
   * import { MemoryStatsRegistry } from "@memstats/shm";
   * using r = MemoryStatsRegistry.open("/memstats-1000", { readOnly: true });
   * const { activeThreads, totals, deadSlots } = r.aggregateStats();
   * console.log(activeThreads, totals, deadSlots);
   * ```
   */
  aggregateStats(): AggregateMemoryStats {
    this.#assertOpen();
    return totalsOnly(this.#seg, this.#budget) ?? aggregateOf(this.#read(false));
  }

  /**
   * Every live slot, in slot order. The
   * table is read when this is called; each record is built as it is
   * iterated, and stays valid after.
   *
   * @example
   * ```ts
   * import { MemoryStatsRegistry } from "@memstats/shm";
   * using r = MemoryStatsRegistry.open("/memstats-1000", { readOnly: true });
   * for (const t of r.perThreadStats()) console.log(t.pid, t.tid, t.label, t.values);
   * ```
   */
  perThreadStats(): IterableIterator<ThreadMemoryStats> {
    this.#assertOpen();
    const cols = this.#spare.pop() ?? new Columns(this.#seg.fields, this.#seg.kinds);
    cols.read(this.#seg, this.#budget, true);
    return rows(cols, () => this.#spare.push(cols));
  }

  /**
   * One read of the table as reused columns (values and peaks per field,
   * pids, tids, owner ids, times, labels, totals): the fastest way to read
   * everything. Valid until the next `snapshot()` or `aggregateStats()` of
   * this registry; copy what you keep.
   *
   * @example
   * ```ts
   * import { MemoryStatsRegistry } from "@memstats/shm";
   * using r = MemoryStatsRegistry.open("/memstats-1000", { readOnly: true });
   * const t = r.snapshot();
   * for (let k = 0; k < t.count; k++) console.log(t.pid[k], t.labels[k], t.values[0][k]);
   * ```
   */
  snapshot(): TableSnapshot {
    return this.#read(true);
  }

  /** One slot's snapshot, or null when it is not live. */
  slotStats(index: number): ThreadMemoryStats | null {
    this.#assertOpen();
    if (!(Number.isInteger(index) && index >= 0 && index < this.capacity)) return null;
    const cols = new Columns(this.#seg.fields, this.#seg.kinds);
    cols.read(this.#seg, this.#budget, true, index, 1);
    return cols.count === 1 ? rowRecord(cols, 0) : null;
  }

  /** Release this registry's slots and unmap the segment. Idempotent. */
  close(): void {
    if (this.#closed) return;
    if (!this.#seg.readOnly) this.#releaseAll();
    this.#closed = true;
    openRegistries.delete(this);
    dropped.unregister(this);
    this.#seg.unmap();
  }

  /** Same as {@linkcode MemoryStatsRegistry.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Whether {@linkcode MemoryStatsRegistry.close} has run. */
  get closed(): boolean {
    return this.#closed;
  }

  #read(labels: boolean): Columns {
    this.#assertOpen();
    this.#columns ??= new Columns(this.#seg.fields, this.#seg.kinds);
    return this.#columns.read(this.#seg, this.#budget, labels);
  }

  #adopt(index: number, id: number): SlotHandle {
    const seg = this.#seg;
    const handle = new Slot({
      f64: seg.f64,
      u32: seg.u32,
      offset: slotOffset(seg.geometry, index),
      index,
      ownerId: id,
      fields: seg.fields,
      fieldIndex: this.#fieldIndex,
      fence: seg.native.ms_fence_release,
      onRelease: (h) => this.#release(h),
    });
    this.#handles ??= new Array(seg.geometry.capacity).fill(undefined);
    this.#handles[index] = handle;
    this.#owned++;
    retainClock(runtime());
    openRegistries.add(this);
    installExitHook(seg.native);
    return handle;
  }

  #release(h: Slot): void {
    if (this.#handles?.[h.index] !== h) return;
    detachSlot(h, this.#lastValues(h.index));
    this.#handles[h.index] = undefined;
    if (--this.#owned === 0) openRegistries.delete(this);
    releaseClock();
    if (!this.#seg.mapped) return;
    releaseSlot(this.#seg, h.index, h.ownerId);
    this.#hint = h.index;
  }

  /**
   * A copy of a slot's values for its released handle, read through the
   * guarded shim into this registry's scratch (zeros if it faults), then
   * into a plain array: a typed array per release costs ~0.5 µs in Deno.
   */
  #lastValues(index: number): number[] {
    const seg = this.#seg;
    const n = slotDoubles(seg.geometry.fieldCount);
    const s = (this.#scratch ??= newScratch(n));
    let ok = false;
    if (seg.mapped) {
      const at = seg.address + slotOffset(seg.geometry, index);
      ok = seg.native.ms_read(at, n * 8, S.seq, s.bytes, s.seq) >= 0;
    }
    const copy = new Array<number>(n);
    for (let k = 0; k < n; k++) copy[k] = ok ? s.doubles[k] : 0;
    return copy;
  }

  #releaseAll(): void {
    if (!this.#handles || this.#owned === 0) return;
    for (const h of this.#handles) if (h) this.#release(h);
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new MemstatsError(
        "CLOSED",
        `registry for ${this.#seg.name} is closed; open it again`,
        this.#seg.name,
      );
    }
  }

  #assertWritable(): void {
    this.#assertOpen();
    if (this.#seg.readOnly) {
      throw new MemstatsError(
        "READ_ONLY",
        `registry for ${this.#seg.name} was opened read-only; open it without readOnly to write`,
        this.#seg.name,
      );
    }
  }
}
