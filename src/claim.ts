/**
 * The claim protocol, the writer half of the table: claiming a free slot,
 * releasing it, and taking back the slots of owners that died.
 *
 * Claim (docs/FORMAT.md, "Claiming a slot"), in C11 terms:
 *
 * ```text
 * CAS(owner, 0 -> claimWord)           seq_cst; on failure try the next slot
 * fence(release)                       the fill below cannot pass the CAS
 * fill pid, tid, token, namespace, times, label; zero values and peaks
 * seq += 2 (or 1 if a dead writer left it odd)     seq_cst RMW
 * id = fetch_add(nextOwnerId, 1)
 * CAS(owner, claimWord -> id)          seq_cst; fails only if a reclaimer took the slot
 * ```
 *
 * What readers (`reader.ts`) rely on, and this module guarantees:
 * - The owner word is an id only after every byte of the slot is filled:
 *   the last CAS is a release, ordered after the fill.
 * - Every claim moves `seq` between its two CASes. A reader that copied a
 *   slot across a claim (the previous owner's words in one part, the new
 *   owner's in another, or a torn owner word) sees `seq` or `owner` move.
 * - The fence after the first CAS keeps the fill from becoming visible
 *   before the claim word, so a reader holding the previous owner's id in
 *   `o1` sees `owner` move in `o2` if it copied any filled byte.
 * - Release is one CAS(id -> 0) by the owner; reclaim is one CAS(observed
 *   -> 0) by anyone, after the owner was judged certainly dead. Owner ids
 *   are never reused, so either CAS fails if the slot changed hands.
 *
 * Every claim is also tracked by the shim, which releases it when the
 * claiming OS thread ends or the process exits, where no JavaScript runs.
 *
 * @module
 */
import { LABEL_SIZE, S, slotOffset } from "./layout.ts";
import { claimWord, type Evidence } from "./liveness.ts";
import {
  CHUNK,
  ownerWordOf,
  R,
  recordAt,
  SCAN_CLAIMING,
  SCAN_EVIDENCE,
  SCAN_FRESH,
  SCAN_JUDGE,
  SCAN_LIVE,
  scanBatch,
} from "./reader.ts";
import type { Segment } from "./segment.ts";

/** A slot claimed by the calling thread. */
export interface Claim {
  /** Slot index. */
  readonly index: number;
  /** Owner id written into the slot. */
  readonly id: number;
}

/**
 * Claim a free slot for the thread described by `ev`, scanning from slot
 * `hint`. Returns null when every slot is taken.
 */
export function claimSlot(seg: Segment, ev: Evidence, label: Uint8Array, hint: number): Claim | null {
  const cap = seg.geometry.capacity;
  const word = claimWord(ev);
  for (let n = 0; n < cap; n++) {
    const i = (hint + n) % cap;
    const off = slotOffset(seg.geometry, i);
    const ow = (off + S.owner) / 8;
    if (seg.u32[ow * 2] !== 0 || seg.u32[ow * 2 + 1] !== 0) continue; // cheap skip of taken slots
    if (Atomics.compareExchange(seg.u64, ow, 0n, word) !== 0n) continue;
    seg.native.ms_fence_release();
    fill(seg, off, ev, label);
    const id = seg.takeOwnerId();
    // A CAS, not a store: if a reclaimer wrongly judged us dead, we must not overwrite its work.
    if (Atomics.compareExchange(seg.u64, ow, word, id) !== word) continue;
    seg.native.ms_track(seg.address, off + S.owner, Number(id));
    return { index: i, id: Number(id) };
  }
  return null;
}

function fill(seg: Segment, off: number, ev: Evidence, label: Uint8Array): void {
  const { u8, u32, u64, f64, geometry: g } = seg;
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
  // Every claim moves seq to the next even number (a dead writer may have left it odd).
  const sq = (off + S.seq) / 4;
  Atomics.add(u32, sq, (Atomics.load(u32, sq) & 1) === 0 ? 2 : 1);
}

/**
 * Give back slot `index` held with owner id `id`: stop tracking it, then
 * CAS(id -> 0) in the shim, guarded: a segment truncated under its writer
 * (by its owner, or a neighbour allowed to write it) must not kill the
 * process as it releases.
 */
export function releaseSlot(seg: Segment, index: number, id: number): void {
  seg.native.ms_release(seg.address, slotOffset(seg.geometry, index) + S.owner, id);
}

/** What {@linkcode visitTaken} reports about each taken slot. */
export interface Taken {
  /** Slot index. */
  readonly slot: number;
  /** The owner word seen (an id, or a claim word with bit 63). */
  readonly word: bigint;
  /** Whether its owner (or claimer) is certainly dead. */
  readonly dead: boolean;
}

/** How {@linkcode reclaimDead} and {@linkcode census} judge. */
export interface JudgeOptions {
  /** Check every owner in full now (default), or accept the cached verdicts of recent reads. */
  readonly fresh?: boolean;
  /** Stop at this `performance.now()` time (default: never). */
  readonly deadline?: number;
}

/**
 * Judge every taken slot (the shim judges: active slots by their evidence,
 * slots mid-claim by the evidence in their claim word) and visit it. Reads
 * the identity even of an owner killed inside `update()` (`seq` left odd).
 */
function visitTaken(seg: Segment, o: JudgeOptions, visit: (t: Taken) => void): void {
  const cap = seg.geometry.capacity;
  const flags = SCAN_CLAIMING | SCAN_EVIDENCE | SCAN_JUDGE | (o.fresh === false ? 0 : SCAN_FRESH);
  for (let start = 0; start < cap; start += CHUNK) {
    if (o.deadline !== undefined && performance.now() > o.deadline) return;
    const b = scanBatch(seg, start, Math.min(CHUNK, cap - start), flags);
    const io = b.io;
    for (let k = 0; k < b.count; k++) {
      const at = recordAt(b, k);
      visit({ slot: io[at + R.slot], word: ownerWordOf(io, at), dead: io[at + R.dead] !== 0 });
    }
  }
}

/**
 * Take back every slot whose owner is certainly dead (docs/FORMAT.md,
 * "Reclaiming"): CAS(observed -> 0), so a slot that changed hands meanwhile
 * is left alone. Returns how many were taken back.
 */
export function reclaimDead(seg: Segment, o: JudgeOptions = {}): number {
  let count = 0;
  visitTaken(seg, o, ({ slot, word, dead }) => {
    if (!dead) return;
    const ow = (slotOffset(seg.geometry, slot) + S.owner) / 8;
    if (Atomics.compareExchange(seg.u64, ow, word, 0n) === word) count++;
  });
  if (count > 0) seg.bump("reclaimedCount", BigInt(count));
  return count;
}

/** How many taken slots have a live owner and how many a dead one; writes nothing. */
export function census(seg: Segment): { live: number; dead: number } {
  let live = 0;
  let dead = 0;
  visitTaken(seg, {}, (t) => (t.dead ? dead++ : live++));
  return { live, dead };
}

/** Owners this segment's readers and reclaimers have found dead, ever (a full table retries when it grows). */
export function deathsSeen(seg: Segment): number {
  return scanBatch(seg, 0, 0, SCAN_LIVE).deaths;
}
