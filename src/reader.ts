/**
 * Reading the table: consistent per-slot snapshots without locks.
 *
 * A slot is read under its owner word and its seqlock: owner and seq are
 * loaded before and after the fields, and the read is retried when either
 * moved. So a reader never sees a half-registered slot (the owner word turns
 * to an id only after the slot is filled), never takes a claiming slot for a
 * free one (bit 63), and never mixes two multi-field updates.
 *
 * @module
 */
import { CLAIMING_BIT, LABEL_SIZE, S, slotOffset } from "./layout.ts";
import type { Segment } from "./segment.ts";

/** Memory statistics of one active slot (the seed's `ThreadMemoryStats`, extended). */
export interface ThreadMemoryStats {
  /** Slot index. */
  readonly slot: number;
  /** Unique owner id, never reused (the seed's thread id). */
  readonly threadId: number;
  /** Owner process id. */
  readonly pid: number;
  /** Owner kernel thread id. */
  readonly tid: number;
  /** Label given at registration ("" when none). */
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

/** Totals over all active slots (the seed's `AggregateMemoryStats`, extended). */
export interface AggregateMemoryStats {
  /** Number of active slots. */
  readonly activeThreads: number;
  /** Sum of the first field over active slots. */
  readonly totalArenaBytes: number;
  /** Registrations refused because the table was full. */
  readonly overflowCount: number;
  /** Slots taken back from dead owners. */
  readonly reclaimedCount: number;
  /** Sum of every field over active slots. */
  readonly totals: Readonly<Record<string, number>>;
}

// A writer holds the seqlock for a handful of stores; retrying this often
// without success means it was stopped (SIGSTOP, a debugger) or killed mid-write.
const SPIN_ATTEMPTS = 1000;

/**
 * Copy slot `i`'s values and peaks into `out` (2 * fieldCount numbers) and
 * return its owner id, or 0 when the slot is not active. Returns -1 when no
 * consistent snapshot could be taken (the owner stopped mid-update).
 */
export function readSlotValues(seg: Segment, i: number, out: Float64Array): number {
  const { u64, u32, f64 } = seg;
  const off = slotOffset(seg.geometry, i);
  const ow = (off + S.owner) / 8;
  const sq = (off + S.seq) / 4;
  const v0 = (off + S.values) / 8;
  const n = seg.geometry.fieldCount * 2;
  // Cheap pre-check with plain loads: most free slots are skipped without a BigInt.
  if (u32[ow * 2] === 0 && u32[ow * 2 + 1] === 0 && Atomics.load(u64, ow) === 0n) return 0;
  for (let attempt = 0; attempt < SPIN_ATTEMPTS; attempt++) {
    const o1 = Atomics.load(u64, ow);
    if (o1 === 0n || (o1 & CLAIMING_BIT) !== 0n) return 0;
    const s1 = Atomics.load(u32, sq);
    if ((s1 & 1) !== 0) continue;
    for (let k = 0; k < n; k++) out[k] = f64[v0 + k];
    if (Atomics.load(u32, sq) === s1 && Atomics.load(u64, ow) === o1) return Number(o1);
  }
  return -1;
}

const decoder = new TextDecoder();

/** Read the identity part of an active slot (stable while the owner word is). */
function readIdentity(seg: Segment, off: number) {
  const { u32, u64, u8, f64 } = seg;
  const raw = u8.subarray(off + S.label, off + S.label + LABEL_SIZE);
  const end = raw.indexOf(0);
  return {
    pid: u32[(off + S.pid) / 4],
    tid: u32[(off + S.tid) / 4],
    token: Number(u64[(off + S.token) / 8]),
    pidNamespace: Number(u64[(off + S.pidNamespace) / 8]),
    label: decoder.decode(raw.subarray(0, end === -1 ? LABEL_SIZE : end)),
    registeredAt: f64[(off + S.registeredAt) / 8],
    updatedAt: f64[(off + S.updatedAt) / 8],
  };
}

/** A consistent snapshot of slot `i`, or null when it is not active. */
export function readSlot(seg: Segment, i: number, scratch: Float64Array): ThreadMemoryStats | null {
  const off = slotOffset(seg.geometry, i);
  const ow = (off + S.owner) / 8;
  for (let attempt = 0; attempt < 8; attempt++) {
    const id = readSlotValues(seg, i, scratch);
    if (id <= 0) return null;
    const ident = readIdentity(seg, off);
    if (Atomics.load(seg.u64, ow) !== BigInt(id)) continue; // released or reclaimed meanwhile
    const values: Record<string, number> = {};
    const peaks: Record<string, number> = {};
    const fc = seg.fields.length;
    seg.fields.forEach((f, k) => {
      values[f] = scratch[k];
      peaks[f] = Math.max(scratch[k], scratch[fc + k]); // the value store may land before the peak's
    });
    return {
      slot: i,
      threadId: id,
      pid: ident.pid,
      tid: ident.tid,
      label: ident.label,
      arenaBytes: scratch[0],
      values,
      peaks,
      registeredAt: ident.registeredAt,
      updatedAt: ident.updatedAt,
    };
  }
  return null;
}

/** Owner evidence of an active slot, read under its owner word; null when not active. */
export function readEvidence(
  seg: Segment,
  i: number,
): { owner: bigint; pid: number; tid: number; token: number; pidNamespace: number } | null {
  const off = slotOffset(seg.geometry, i);
  const ow = (off + S.owner) / 8;
  const owner = Atomics.load(seg.u64, ow);
  if (owner === 0n) return null;
  const { pid, tid, token, pidNamespace } = readIdentity(seg, off);
  return { owner, pid, tid, token, pidNamespace };
}

/** Every active slot, in slot order. */
export function* perThread(seg: Segment): Generator<ThreadMemoryStats> {
  const scratch = new Float64Array(seg.geometry.fieldCount * 2);
  for (let i = 0; i < seg.geometry.capacity; i++) {
    const s = readSlot(seg, i, scratch);
    if (s) yield s;
  }
}

/** Totals over the table. */
export function aggregate(seg: Segment): AggregateMemoryStats {
  const fc = seg.geometry.fieldCount;
  const scratch = new Float64Array(fc * 2);
  const sums = new Float64Array(fc);
  let active = 0;
  for (let i = 0; i < seg.geometry.capacity; i++) {
    if (readSlotValues(seg, i, scratch) <= 0) continue;
    active++;
    for (let k = 0; k < fc; k++) sums[k] += scratch[k];
  }
  const totals: Record<string, number> = {};
  seg.fields.forEach((f, k) => (totals[f] = sums[k]));
  return {
    activeThreads: active,
    totalArenaBytes: sums[0],
    overflowCount: seg.counter("overflowCount"),
    reclaimedCount: seg.counter("reclaimedCount"),
    totals,
  };
}
