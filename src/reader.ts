/**
 * Reading the table: consistent per-slot snapshots without locks.
 *
 * A slot is read under its owner word and its seqlock: owner and seq are
 * loaded before and after the fields, and the read is retried when either
 * moved. So a reader never sees a half-registered slot (the owner word turns
 * to an id only after the slot is filled), never takes a claiming slot for a
 * free one (bit 63), and never mixes two multi-field updates. A slot frozen
 * mid-update (its writer stopped inside `update()`) is left out until its
 * writer resumes or the slot is reclaimed.
 *
 * @module
 */
import { LABEL_SIZE, S, slotOffset } from "./layout.ts";
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
// Slots read per batch: each batch costs four barriers, whatever its size.
const CHUNK = 256;

/*
 * Why plain loads plus barriers, not Atomics.load on every word: JSC's
 * optimizing JIT implements Atomics.load on 32-bit arrays with a locked
 * read-modify-write, which faults on a PROT_READ mapping (measured: SIGSEGV
 * in Bun 1.4.5), and every 64-bit Atomics.load allocates a BigInt (10-18 ns).
 * So a reader loads seq and owner words with plain loads, in phases
 * separated by one 64-bit Atomics.load of the magic word, which neither
 * engine lets plain loads cross; x86 and ARM keep the phases' order:
 *
 *   seq → barrier → owner (two u32 halves) → barrier → values → barrier
 *   → owner again → barrier → seq again
 *
 * A slot is accepted when seq is even and both seq and owner are unchanged.
 * The owner's halves may be read torn, but every claim changes seq between
 * its two CASes (see registry.ts), so a torn owner never survives the check.
 */
function barrier(seg: Segment): void {
  Atomics.load(seg.u64, 0);
}

/**
 * Copy slot `i`'s values and peaks into `out` at `at` (2 * fieldCount
 * numbers) and return its owner id, or 0 when the slot is not active, or -1
 * when no consistent snapshot could be taken (the owner stopped mid-update).
 */
export function readSlotValues(seg: Segment, i: number, out: Float64Array, at = 0): number {
  const { u32, f64 } = seg;
  const off = slotOffset(seg.geometry, i);
  const lo = (off + S.owner) / 4;
  const sq = (off + S.seq) / 4;
  const v0 = (off + S.values) / 8;
  const n = seg.geometry.fieldCount * 2;
  for (let attempt = 0; attempt < SPIN_ATTEMPTS; attempt++) {
    const s1 = u32[sq];
    barrier(seg);
    const l1 = u32[lo];
    const h1 = u32[lo + 1];
    if ((l1 | h1) === 0 || h1 >= 0x80000000) return 0; // free, or a claim in progress
    barrier(seg);
    for (let k = 0; k < n; k++) out[at + k] = f64[v0 + k];
    barrier(seg);
    const same = u32[lo] === l1 && u32[lo + 1] === h1;
    barrier(seg);
    if (same && u32[sq] === s1 && (s1 & 1) === 0) return h1 * 0x100000000 + l1;
  }
  return -1;
}

/**
 * Visit every active slot with a consistent copy of its values: `visit(slot,
 * ownerId, values, at)` where the slot's values start at `values[at]` and its
 * peaks follow. Slots are read in batches with four barriers per batch.
 */
export function scanSlots(
  seg: Segment,
  visit: (slot: number, ownerId: number, values: Float64Array, at: number) => void,
): void {
  const { u32, f64, geometry: g } = seg;
  const n = g.fieldCount * 2;
  const seq = new Uint32Array(Math.min(CHUNK, g.capacity));
  const lo = new Uint32Array(seq.length);
  const hi = new Uint32Array(seq.length);
  const vals = new Float64Array(seq.length * n);
  const w32 = g.slotStride / 4;
  const w64 = g.slotStride / 8;
  for (let base = 0; base < g.capacity; base += CHUNK) {
    const len = Math.min(CHUNK, g.capacity - base);
    const sq0 = (slotOffset(g, base) + S.seq) / 4;
    const ow0 = (slotOffset(g, base) + S.owner) / 4;
    const v0 = (slotOffset(g, base) + S.values) / 8;
    for (let k = 0; k < len; k++) seq[k] = u32[sq0 + k * w32];
    barrier(seg);
    let active = 0;
    for (let k = 0; k < len; k++) {
      const l = u32[ow0 + k * w32];
      const h = u32[ow0 + k * w32 + 1];
      lo[k] = l;
      hi[k] = h;
      if ((l | h) !== 0 && h < 0x80000000) active++;
    }
    if (active === 0) continue;
    barrier(seg);
    for (let k = 0; k < len; k++) {
      if ((lo[k] | hi[k]) === 0 || hi[k] >= 0x80000000) continue;
      const src = v0 + k * w64;
      for (let j = 0; j < n; j++) vals[k * n + j] = f64[src + j];
    }
    barrier(seg);
    for (let k = 0; k < len; k++) {
      if (u32[ow0 + k * w32] !== lo[k] || u32[ow0 + k * w32 + 1] !== hi[k]) hi[k] = 0xffffffff; // moved
    }
    barrier(seg);
    for (let k = 0; k < len; k++) {
      const l = lo[k];
      const h = hi[k];
      if ((l | h) === 0 || (h >= 0x80000000 && h !== 0xffffffff)) continue; // free or claiming
      if (h !== 0xffffffff && u32[sq0 + k * w32] === seq[k] && (seq[k] & 1) === 0) {
        visit(base + k, h * 0x100000000 + l, vals, k * n);
        continue;
      }
      // Changed under us: read this one slot again on its own.
      const id = readSlotValues(seg, base + k, vals, k * n);
      if (id > 0) visit(base + k, id, vals, k * n);
    }
  }
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

function toStats(seg: Segment, slot: number, id: number, vals: Float64Array, at: number): ThreadMemoryStats | null {
  const off = slotOffset(seg.geometry, slot);
  const ident = readIdentity(seg, off);
  // Identity words are stable while the owner is; if it moved, the slot is not ours to report.
  barrier(seg);
  const lo = seg.u32[(off + S.owner) / 4];
  const hi = seg.u32[(off + S.owner) / 4 + 1];
  if (hi * 0x100000000 + lo !== id) return null;
  const values: Record<string, number> = {};
  const peaks: Record<string, number> = {};
  const fc = seg.fields.length;
  seg.fields.forEach((f, k) => {
    values[f] = vals[at + k];
    peaks[f] = Math.max(vals[at + k], vals[at + fc + k]); // the value store may land before the peak's
  });
  return {
    slot,
    threadId: id,
    pid: ident.pid,
    tid: ident.tid,
    label: ident.label,
    arenaBytes: vals[at],
    values,
    peaks,
    registeredAt: ident.registeredAt,
    updatedAt: ident.updatedAt,
  };
}

/** A consistent snapshot of slot `i`, or null when it is not active. */
export function readSlot(seg: Segment, i: number): ThreadMemoryStats | null {
  const vals = new Float64Array(seg.geometry.fieldCount * 2);
  for (let attempt = 0; attempt < 8; attempt++) {
    const id = readSlotValues(seg, i, vals);
    if (id <= 0) return null;
    const s = toStats(seg, i, id, vals, 0);
    if (s) return s;
  }
  return null;
}

/** Owner evidence of a taken slot, read under its owner word; null when free. */
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
export function perThread(seg: Segment): IterableIterator<ThreadMemoryStats> {
  const out: ThreadMemoryStats[] = [];
  scanSlots(seg, (slot, id, vals, at) => {
    const s = toStats(seg, slot, id, vals, at) ?? readSlot(seg, slot);
    if (s) out.push(s);
  });
  return out[Symbol.iterator]();
}

/** Totals over the table. */
export function aggregate(seg: Segment): AggregateMemoryStats {
  const fc = seg.geometry.fieldCount;
  const sums = new Float64Array(fc);
  let active = 0;
  scanSlots(seg, (_slot, _id, vals, at) => {
    active++;
    for (let k = 0; k < fc; k++) sums[k] += vals[at + k];
  });
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
