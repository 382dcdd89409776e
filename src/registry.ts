/**
 * Cross-process memory statistics registry in POSIX shared memory.
 *
 * Every process and Worker thread that writes figures claims its own slot in
 * one shared table and updates it with plain single stores; any process can
 * read the whole table at any time, without locks and without asking the
 * writers.
 *
 * # Design
 *
 * The in-process original keeps a global array of slots; here the array is a
 * `shm_open` segment mapped by every participant, so the slot claim is a
 * compare-and-swap across processes and the owner can die at any point.
 *
 * ```text
 * ┌──────────────────────────── segment /memstats-1000 ─────────────────────────────┐
 * │ header (64-byte lines): magic, version, geometry, field names, state=READY,     │
 * │                         nextOwnerId, overflowCount, reclaimedCount, createdAt    │
 * ├──────────────────────────────────────────────────────────────────────────────────┤
 * │ slot 0 (stride: whole cache lines)     │ slot 1                │ ... slot N-1    │
 * │  owner  u64  0 | claiming | owner id   │  owner  u64           │                 │
 * │  seq    u32  seqlock for update()      │  ...                  │                 │
 * │  pid, tid, start time, pid namespace   │                       │                 │
 * │  registeredAt, updatedAt, label        │                       │                 │
 * │  values f64[fields], peaks f64[fields] │                       │                 │
 * └──────────────────────────────────────────────────────────────────────────────────┘
 *   writer: CAS 0 → claim word, fill slot, CAS claim word → id; then plain stores
 *   reader: load owner, seq, fields, seq, owner; retry if any moved
 *   reclaim: owner's (pid, tid, start time) gone from /proc → CAS id → 0
 * ```
 *
 * Where the original is weak we go further: slots are released on exit and
 * reclaimed from owners that died without running any hook (SIGKILL, a
 * terminated Worker), a reused pid never passes for a live owner because the
 * kernel's thread start time is part of the evidence, and slots are padded
 * to whole cache lines so two writers never share one.
 *
 * # Performance
 *
 * - **Registration**: one CAS per thread plus a dozen stores; a full table
 *   first reclaims dead slots (one `/proc` read per active slot).
 * - **Updates**: one aligned 8-byte store of the value, a compare for the
 *   peak, one store of a coarse clock. No allocation, no call, no BigInt.
 * - **Reads**: a linear scan; free slots cost two plain loads, active ones a
 *   seqlock-validated copy of their values.
 *
 * See `BENCHMARKS.md` for the figures, `docs/FORMAT.md` for every byte.
 *
 * @module
 */
import { releaseClock, retainClock } from "./clock.ts";
import { MemstatsError } from "./errors.ts";
import { type Platform, platform } from "./ffi/mod.ts";
import { CLAIMING_BIT, LABEL_SIZE, S, slotOffset, VERSION_MAJOR } from "./layout.ts";
import { claimerIsDead, claimWord, currentEvidence, type Evidence, ownerIsDead } from "./liveness.ts";
import { encodeLabel, validateSegmentName } from "./names.ts";
import {
  aggregate,
  type AggregateMemoryStats,
  perThread,
  readEvidence,
  readSlot,
  type ThreadMemoryStats,
} from "./reader.ts";
import {
  openSegment,
  type Segment,
  type SegmentFileInfo,
  type SegmentOptions,
  unlinkSegment,
} from "./segment.ts";
import { SlotHandle } from "./slot.ts";

/** Options for {@linkcode MemoryStatsRegistry.open}. */
export type OpenOptions = SegmentOptions;

/** Options for {@linkcode MemoryStatsRegistry.register}. */
export interface RegisterOptions {
  /** A short UTF-8 label shown by readers; cut to 63 bytes at a character boundary. */
  label?: string;
}

/** Facts about an open segment, for diagnostics. */
export interface SegmentInfo {
  /** Segment name. */
  readonly name: string;
  /** Layout version, e.g. `"1.0"`. */
  readonly layoutVersion: string;
  /** Number of slots. */
  readonly capacity: number;
  /** Field names. */
  readonly fields: readonly string[];
  /** Bytes mapped. */
  readonly size: number;
  /** Creation time, ms since the epoch. */
  readonly createdAt: number;
  /** Pid of the creating process. */
  readonly creatorPid: number;
  /** Owner uid and permission bits of the file. */
  readonly file: SegmentFileInfo;
}

// Registries of this JS thread that may own slots, released at exit.
const openRegistries = new Set<MemoryStatsRegistry>();
let exitHookInstalled = false;

function installExitHook(p: Platform): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  p.onExit(() => {
    for (const r of openRegistries) r.releaseAll();
  });
}

/**
 * A registry of per-thread memory figures shared by every process that opens
 * the same segment name.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry } from "@memstats/shm";
 *
 * const registry = MemoryStatsRegistry.open("/memstats-example");
 * const slot = registry.register({ label: "main" });
 * if (slot !== null) registry.updateArena(slot, 1024);
 * console.log(registry.aggregateStats()); // { activeThreads: 1, totalArenaBytes: 1024, ... }
 * registry.close();
 * MemoryStatsRegistry.unlink("/memstats-example");
 * ```
 */
export class MemoryStatsRegistry {
  readonly #seg: Segment;
  readonly #platform: Platform;
  readonly #fieldIndex: ReadonlyMap<string, number>;
  #handles: (SlotHandle | undefined)[] | undefined;
  #owned = 0;
  #evidence: Evidence | undefined;
  #hint = 0;
  #closed = false;

  private constructor(p: Platform, seg: Segment) {
    this.#platform = p;
    this.#seg = seg;
    this.#fieldIndex = new Map(seg.fields.map((f, i) => [f, i]));
  }

  /**
   * Create the segment `name` or attach to it.
   *
   * Creating: `capacity` slots (default 64) of `fields` (default
   * `["arena_bytes"]`), mode `0o600`. Attaching: `capacity` and `fields`,
   * when given, must match the segment's (`SCHEMA` otherwise).
   *
   * @example
   * ```ts
   * import { MemoryStatsRegistry } from "@memstats/shm";
   * const reader = MemoryStatsRegistry.open("/memstats-1000", { readOnly: true });
   * for (const t of reader.perThreadStats()) console.log(t.label, t.arenaBytes);
   * reader.close();
   * ```
   */
  static open(name: string, options: OpenOptions = {}): MemoryStatsRegistry {
    validateSegmentName(name); // before loading (or building) the shim: a bad name makes no system call
    const p = platform();
    return new MemoryStatsRegistry(p, openSegment(p, name, options));
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
    return unlinkSegment(platform(), name);
  }

  /** Segment name. */
  get name(): string {
    return this.#seg.name;
  }

  /** Number of slots (the seed's `capacity()`). */
  get capacity(): number {
    return this.#seg.geometry.capacity;
  }

  /** Field names; the first one is the one `updateArena` writes. */
  get fields(): readonly string[] {
    return this.#seg.fields;
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
    return this.#seg.counter("overflowCount");
  }

  /** Slots taken back from dead owners, ever. */
  get reclaimedCount(): number {
    this.#assertOpen();
    return this.#seg.counter("reclaimedCount");
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
   * const reg = MemoryStatsRegistry.open("/memstats-example");
   * const slot = reg.registerSlot({ label: "worker" });
   * slot?.set(4096);
   * reg.close();
   * ```
   */
  registerSlot(options?: RegisterOptions): SlotHandle | null {
    this.#assertWritable();
    const label = encodeLabel(options?.label);
    const ev = (this.#evidence ??= currentEvidence(this.#platform.shim));
    let handle = this.#claimFree(ev, label);
    // Full: free dead owners' slots and scan again. Racing registrants may take
    // what we freed (or free slots themselves), so repeat while reclaim finds any.
    for (let round = 0; handle === null && round < 8; round++) {
      const freed = this.reclaim();
      handle = this.#claimFree(ev, label);
      if (freed === 0) break;
    }
    if (handle === null) {
      this.#seg.bump("overflowCount");
      return null;
    }
    return handle;
  }

  /** The handle of a slot this registry owns, or undefined. */
  slot(index: number): SlotHandle | undefined {
    return this.#handles?.[index];
  }

  /**
   * Set the first field of slot `slotIndex` (one atomic store). An index out
   * of range, or of a slot this registry does not own, is ignored, as in the
   * seed.
   */
  updateArena(slotIndex: number, bytes: number): void {
    const h = this.#handles?.[slotIndex];
    if (h !== undefined) h.set(bytes);
    else if (this.#seg.readOnly) this.#assertWritable();
  }

  /** Give slot `slotIndex` back if this registry owns it. */
  release(slotIndex: number): void {
    this.#assertWritable();
    this.releaseSlot(slotIndex);
  }

  /** @internal Used by {@linkcode SlotHandle.release}. */
  releaseSlot(index: number): void {
    const h = this.#handles?.[index];
    if (h === undefined) return;
    h.detach();
    this.#handles![index] = undefined;
    this.#owned--;
    releaseClock();
    if (!this.#seg.mapped) return;
    const ow = (slotOffset(this.#seg.geometry, index) + S.owner) / 8;
    Atomics.compareExchange(this.#seg.u64, ow, BigInt(h.ownerId), 0n);
    this.#hint = index;
  }

  /** @internal Release every slot this registry owns (exit hook, close). */
  releaseAll(): void {
    if (!this.#handles || this.#owned === 0) return;
    for (let i = 0; i < this.#handles.length; i++) if (this.#handles[i]) this.releaseSlot(i);
  }

  /**
   * Take back every slot whose owner is certainly dead: its process or
   * thread is gone, or its pid now names another process. Returns how many.
   * Live owners are never touched.
   */
  reclaim(): number {
    this.#assertWritable();
    const seg = this.#seg;
    let count = 0;
    for (const { slot, owner } of this.#deadSlots()) {
      const ow = (slotOffset(seg.geometry, slot) + S.owner) / 8;
      if (Atomics.compareExchange(seg.u64, ow, owner, 0n) === owner) count++;
    }
    if (count > 0) seg.bump("reclaimedCount", BigInt(count));
    return count;
  }

  /**
   * How many taken slots have a live owner and how many a dead one (which
   * `reclaim()` would free). Works on a read-only registry; writes nothing.
   *
   * @example
   * ```ts
   * import { MemoryStatsRegistry } from "@memstats/shm";
   * const r = MemoryStatsRegistry.open("/memstats-1000", { readOnly: true });
   * if (r.ownerCensus().live === 0) console.log("nobody is writing");
   * r.close();
   * ```
   */
  ownerCensus(): { live: number; dead: number } {
    this.#assertOpen();
    let live = 0;
    let dead = 0;
    for (let i = 0; i < this.capacity; i++) {
      const ev = readEvidence(this.#seg, i);
      if (ev === null) continue;
      if (this.#isDead(ev)) dead++;
      else live++;
    }
    return { live, dead };
  }

  *#deadSlots(): Generator<{ slot: number; owner: bigint }> {
    for (let i = 0; i < this.capacity; i++) {
      const ev = readEvidence(this.#seg, i);
      if (ev !== null && this.#isDead(ev)) yield { slot: i, owner: ev.owner };
    }
  }

  /** Whether the owner (or claimer) a slot's evidence names is certainly gone. */
  #isDead(ev: NonNullable<ReturnType<typeof readEvidence>>): boolean {
    const shim = this.#platform.shim;
    const ours = (this.#evidence ??= currentEvidence(shim));
    return (ev.owner & CLAIMING_BIT) !== 0n
      ? claimerIsDead(shim, ev.owner, ours)
      : ownerIsDead(shim, ev, ours);
  }

  /** Totals over all active slots (the seed's `aggregate_stats`). */
  aggregateStats(): AggregateMemoryStats {
    this.#assertOpen();
    return aggregate(this.#seg);
  }

  /** Every active slot (the seed's `per_thread_stats`). */
  perThreadStats(): IterableIterator<ThreadMemoryStats> {
    this.#assertOpen();
    return perThread(this.#seg);
  }

  /** One slot's snapshot, or null when it is not active. */
  slotStats(index: number): ThreadMemoryStats | null {
    this.#assertOpen();
    if (!(index >= 0 && index < this.capacity)) return null;
    return readSlot(this.#seg, index);
  }

  /** Release this registry's slots and unmap the segment. Idempotent. */
  close(): void {
    if (this.#closed) return;
    if (!this.#seg.readOnly) this.releaseAll();
    this.#closed = true;
    openRegistries.delete(this);
    this.#seg.unmap();
  }

  /** Whether {@linkcode MemoryStatsRegistry.close} has run. */
  get closed(): boolean {
    return this.#closed;
  }

  #claimFree(ev: Evidence, label: Uint8Array): SlotHandle | null {
    const seg = this.#seg;
    const cap = seg.geometry.capacity;
    const word = claimWord(ev);
    for (let n = 0; n < cap; n++) {
      const i = (this.#hint + n) % cap;
      const off = slotOffset(seg.geometry, i);
      const ow = (off + S.owner) / 8;
      if (seg.u32[ow * 2] !== 0 || seg.u32[ow * 2 + 1] !== 0) continue; // cheap skip of taken slots
      if (Atomics.compareExchange(seg.u64, ow, 0n, word) !== 0n) continue;
      this.#fill(off, ev, label);
      const id = seg.takeOwnerId();
      // A CAS, not a store: if a reclaimer wrongly judged us dead, we must not overwrite its work.
      if (Atomics.compareExchange(seg.u64, ow, word, id) !== word) continue;
      this.#hint = (i + 1) % cap;
      return this.#adopt(i, off, id);
    }
    return null;
  }

  #fill(off: number, ev: Evidence, label: Uint8Array): void {
    const { u8, u32, u64, f64, geometry: g } = this.#seg;
    const now = Date.now();
    u32[(off + S.flags) / 4] = 0;
    u32[(off + S.pid) / 4] = ev.pid;
    u32[(off + S.tid) / 4] = ev.tid;
    u64[(off + S.token) / 8] = BigInt(ev.token);
    u64[(off + S.pidNamespace) / 8] = BigInt(ev.pidNamespace);
    f64[(off + S.registeredAt) / 8] = now;
    f64[(off + S.updatedAt) / 8] = now;
    u64[(off + S.reserved) / 8] = 0n;
    u8.fill(0, off + S.label, off + S.label + LABEL_SIZE);
    u8.set(label, off + S.label);
    f64.fill(0, (off + S.values) / 8, (off + S.values) / 8 + 2 * g.fieldCount);
    // Every claim moves seq (to the next even number: a dead writer may have left
    // it odd), so a reader that read a torn owner word across this claim retries.
    const sq = (off + S.seq) / 4;
    Atomics.add(u32, sq, (Atomics.load(u32, sq) & 1) === 0 ? 2 : 1);
  }

  #adopt(index: number, off: number, id: bigint): SlotHandle {
    const seg = this.#seg;
    const handle = new SlotHandle(
      this,
      seg.f64,
      seg.u32,
      off,
      index,
      Number(id),
      seg.fields,
      this.#fieldIndex,
    );
    this.#handles ??= new Array(seg.geometry.capacity).fill(undefined);
    this.#handles[index] = handle;
    this.#owned++;
    retainClock(this.#platform);
    openRegistries.add(this);
    installExitHook(this.#platform);
    return handle;
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
