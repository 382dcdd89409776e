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

/** Per-segment reusable buffers: a typed array costs ~0.5 us to allocate in Deno. */
interface Scratch {
  readonly seq: Uint32Array;
  readonly lo: Uint32Array;
  readonly hi: Uint32Array;
  readonly vals: Float64Array;
  readonly sums: Float64Array;
  readonly one: Float64Array;
  readonly pids: Uint32Array;
  readonly tids: Uint32Array;
  readonly registered: Float64Array;
  readonly updated: Float64Array;
  /** Decoded labels, valid while `labelOwner[slot]` is the slot's owner id (labels never change within a claim). */
  readonly labels: string[];
  readonly labelOwner: Float64Array;
}

const scratches = new WeakMap<Segment, Scratch>();

function scratchOf(seg: Segment): Scratch {
  let s = scratches.get(seg);
  if (s === undefined) {
    const len = Math.min(CHUNK, seg.geometry.capacity);
    const n = seg.geometry.fieldCount * 2;
    // Identity arrays have one spare entry at `len`, used by the single-slot path.
    s = {
      seq: new Uint32Array(len),
      lo: new Uint32Array(len),
      hi: new Uint32Array(len),
      vals: new Float64Array(len * n),
      sums: new Float64Array(seg.geometry.fieldCount),
      one: new Float64Array(n),
      pids: new Uint32Array(len + 1),
      tids: new Uint32Array(len + 1),
      registered: new Float64Array(len + 1),
      updated: new Float64Array(len + 1),
      labels: [],
      labelOwner: new Float64Array(seg.geometry.capacity),
    };
    scratches.set(seg, s);
  }
  return s;
}

/**
 * Visit every active slot with a consistent copy of its values: `visit(slot,
 * ownerId, values, at, k)` where the slot's values start at `values[at]` and
 * its peaks follow. With `identity`, pid, tid, times and label are copied in
 * the same validated window into the scratch arrays at `k`; `k` is -1 when
 * the slot had to be re-read on its own (then nothing is at `k`). Slots are
 * read in batches with four barriers per batch.
 */
export function scanSlots(
  seg: Segment,
  identity: boolean,
  visit: (slot: number, ownerId: number, values: Float64Array, at: number, k: number) => void,
): void {
  const { u32, f64, geometry: g } = seg;
  const n = g.fieldCount * 2;
  const sc = scratchOf(seg);
  const { seq, lo, hi, vals } = sc;
  const w32 = g.slotStride / 4;
  const w64 = g.slotStride / 8;
  for (let base = 0; base < g.capacity; base += CHUNK) {
    const len = Math.min(CHUNK, g.capacity - base);
    const off0 = slotOffset(g, base);
    const sq0 = (off0 + S.seq) / 4;
    const ow0 = (off0 + S.owner) / 4;
    const v0 = (off0 + S.values) / 8;
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
      if (identity) copyIdentity(seg, sc, base + k, off0 + k * g.slotStride, hi[k] * 0x100000000 + lo[k], k);
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
        visit(base + k, h * 0x100000000 + l, vals, k * n, k);
        continue;
      }
      // Changed under us: forget what was copied, and read this one slot again on its own.
      sc.labelOwner[base + k] = 0;
      const id = readSlotValues(seg, base + k, vals, k * n);
      if (id > 0) visit(base + k, id, vals, k * n, -1);
    }
  }
}

const decoder = new TextDecoder();

/** Copy slot identity into the scratch arrays at `k`; the label is decoded once per claim. */
function copyIdentity(seg: Segment, sc: Scratch, slot: number, off: number, id: number, k: number): void {
  const { u32, f64 } = seg;
  sc.pids[k] = u32[(off + S.pid) / 4];
  sc.tids[k] = u32[(off + S.tid) / 4];
  sc.registered[k] = f64[(off + S.registeredAt) / 8];
  sc.updated[k] = f64[(off + S.updatedAt) / 8];
  if (sc.labelOwner[slot] !== id) {
    const raw = seg.u8.subarray(off + S.label, off + S.label + LABEL_SIZE);
    const end = raw.indexOf(0);
    sc.labels[slot] = decoder.decode(raw.subarray(0, end === -1 ? LABEL_SIZE : end));
    sc.labelOwner[slot] = id;
  }
}

function toStats(
  seg: Segment,
  sc: Scratch,
  slot: number,
  id: number,
  vals: Float64Array,
  at: number,
  k: number,
) {
  const fields = seg.fields;
  const fc = fields.length;
  const values: Record<string, number> = {};
  const peaks: Record<string, number> = {};
  for (let j = 0; j < fc; j++) {
    const v = vals[at + j];
    const p = vals[at + fc + j];
    values[fields[j]] = v;
    peaks[fields[j]] = p > v ? p : v; // the value store may land before the peak's
  }
  return {
    slot,
    threadId: id,
    pid: sc.pids[k],
    tid: sc.tids[k],
    label: sc.labels[slot],
    arenaBytes: vals[at],
    values,
    peaks,
    registeredAt: sc.registered[k],
    updatedAt: sc.updated[k],
  };
}

/** A consistent snapshot of slot `i`, or null when it is not active. */
export function readSlot(seg: Segment, i: number): ThreadMemoryStats | null {
  const sc = scratchOf(seg);
  const vals = sc.one;
  const off = slotOffset(seg.geometry, i);
  for (let attempt = 0; attempt < 8; attempt++) {
    const id = readSlotValues(seg, i, vals);
    if (id <= 0) return null;
    const k = sc.pids.length - 1; // the spare entry: a scan may be using the others
    barrier(seg);
    copyIdentity(seg, sc, i, off, id, k);
    barrier(seg);
    // Identity words are stable while the owner is; if it moved, read again.
    if (seg.u32[(off + S.owner) / 4 + 1] * 0x100000000 + seg.u32[(off + S.owner) / 4] === id) {
      return toStats(seg, sc, i, id, vals, 0, k);
    }
    sc.labelOwner[i] = 0;
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
  const { u32, u64 } = seg;
  return {
    owner,
    pid: u32[(off + S.pid) / 4],
    tid: u32[(off + S.tid) / 4],
    token: Number(u64[(off + S.token) / 8]),
    pidNamespace: Number(u64[(off + S.pidNamespace) / 8]),
  };
}

/** Every active slot, in slot order. */
export function perThread(seg: Segment): IterableIterator<ThreadMemoryStats> {
  const out: ThreadMemoryStats[] = [];
  const sc = scratchOf(seg);
  scanSlots(seg, true, (slot, id, vals, at, k) => {
    const s = k >= 0 ? toStats(seg, sc, slot, id, vals, at, k) : readSlot(seg, slot);
    if (s) out.push(s);
  });
  return out[Symbol.iterator]();
}

/** Totals over the table. */
export function aggregate(seg: Segment): AggregateMemoryStats {
  const fc = seg.geometry.fieldCount;
  const sums = scratchOf(seg).sums.fill(0);
  let active = 0;
  scanSlots(seg, false, (_slot, _id, vals, at) => {
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
