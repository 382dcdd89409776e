/**
 * The read protocol: consistent snapshots of slots, without locks and
 * without writing a byte of the segment.
 *
 * The copying is done by the shim's `ms_scan` (native/memstats_shim.c), in
 * C11 atomics, because the protocol needs acquire fences that JavaScript
 * cannot express, and because some engines compile atomic loads to
 * instructions that write (a fault on a read-only mapping). Per slot:
 *
 * ```text
 * s1 = seq            (relaxed)
 * fence(acquire)
 * o1 = owner          (relaxed); skip if 0, or if bit 63 (claiming) is set
 * copy pid, tid, token, namespace, times, values, peaks, label (relaxed)
 * fence(acquire)
 * o2 = owner; s2 = seq
 * accept when s1 is even, s1 == s2 and o1 == o2
 * ```
 *
 * A slot that fails twice is retried once more after its batch (a writer
 * preempted inside `update()` usually finishes by then); if it fails again
 * it is left out of this read and counted as skipped. A scan also stops at
 * its deadline. Every read of the mapping is guarded: a SIGBUS (the file
 * was truncated, or /dev/shm could not supply a page) becomes an error.
 *
 * What the reader relies on from the writers (`claim.ts`, `slot.ts`):
 * - A claim writes the owner word with its claim word (bit 63) first, a
 *   release fence after that CAS, then the slot's identity and zeroed
 *   values, then moves `seq` by an even step, then CASes the owner id in:
 *   so a copy that mixes two claims always sees `seq` or `owner` move.
 * - A multi-field update makes `seq` odd, fences (release), writes, then
 *   makes `seq` even with a release RMW.
 * - A single-field store is one aligned 8-byte store (single-copy atomic),
 *   so it needs no seqlock; a peak may trail its value by one store, which
 *   readers absorb by reporting max(value, peak).
 *
 * @module
 */
import { ERRNO, MemstatsError } from "./errors.ts";
import { OpenKind } from "./ffi/mod.ts";
import { noSpaceError, type Segment } from "./segment.ts";

/** Offsets in the scan's request block (native/memstats_shim.c `IO_*`; tests/shim.test.ts compares). */
export const IO = {
  base: 0,
  length: 1,
  headerSize: 2,
  stride: 3,
  fields: 4,
  start: 5,
  count: 6,
  flags: 7,
  maxRecords: 8,
  budget: 9,
  judge: 10,
  processKinds: 11,
  skipped: 12,
  scanned: 13,
  overflow: 14,
  reclaimed: 15,
  recordSize: 16,
  live: 17,
  dead: 18,
  deaths: 19,
  sums: 32,
  head: 64,
} as const;

/** Fields of one record (native/memstats_shim.c `R_*`); values, peaks and the label follow. */
export const R = {
  slot: 0,
  ownerHi: 1,
  ownerLo: 2,
  seq: 3,
  pid: 4,
  tid: 5,
  token: 6,
  pidNamespace: 7,
  registeredAt: 8,
  updatedAt: 9,
  dead: 10,
  values: 12,
} as const;

/** Scan flag: copy each slot's 64 label bytes after its peaks. */
export const SCAN_LABELS = 1;
/** Scan flag: also return slots being claimed (owner bit 63), with only their owner word. */
export const SCAN_CLAIMING = 2;
/**
 * Scan flag: accept a copy whose owner word did not move even while `seq`
 * is odd: the owner's identity is consistent then, its values may not be
 * (for reclaim: an owner killed inside `update()` leaves `seq` odd forever).
 */
export const SCAN_EVIDENCE = 4;
/**
 * Scan flag: leave out (and count) slots whose owner is certainly dead,
 * judged by the shim with verdicts cached per segment (docs/FORMAT.md, "Who
 * is alive"); sum the per-thread fields of the live ones.
 */
export const SCAN_LIVE = 8;
/** Scan flag: judge every record into `R.dead` and keep it (reclaim, census). */
export const SCAN_JUDGE = 16;
/** Scan flag: count and sum only, no records (totals without process fields). */
export const SCAN_NO_RECORDS = 32;
/** Scan flag: judge with the full /proc check now, not from cached verdicts. */
export const SCAN_FRESH = 64;

/** Slots per shim call: big enough that the call costs nothing, small enough to stay in cache. */
export const CHUNK = 256;

/** The records of one scanned batch; valid until the next scan of the same segment. */
export interface Batch {
  /** The request block: records start at `recordAt(b, 0)`. */
  readonly io: Float64Array;
  /** The same memory as bytes (labels). */
  readonly bytes: Uint8Array;
  /** Number of records. */
  readonly count: number;
  /** Doubles per record. */
  readonly size: number;
  /** Slots left out: a write stayed in progress through every try. */
  readonly skipped: number;
  /** Slots looked at (fewer than asked when the budget ran out). */
  readonly scanned: number;
  /** With SCAN_LIVE: live slots seen. */
  readonly live: number;
  /** With SCAN_LIVE: slots of dead owners seen (left out). */
  readonly dead: number;
  /** Owners this segment's judge has found dead, ever. */
  readonly deaths: number;
  /** The header's overflow counter, read with the batch. */
  readonly overflowCount: number;
  /** The header's reclaimed counter, read with the batch. */
  readonly reclaimedCount: number;
}

/** Index of record `k`'s first double in {@linkcode Batch.io}. */
export function recordAt(b: Batch, k: number): number {
  return IO.head + k * b.size;
}

/** The owner word of the record at `at` as a number (exact below 2^53; claim words are not). */
export function ownerOf(io: Float64Array, at: number): number {
  return io[at + R.ownerHi] * 0x100000000 + io[at + R.ownerLo];
}

/** The owner word of the record at `at` as an exact 64-bit integer. */
export function ownerWordOf(io: Float64Array, at: number): bigint {
  return (BigInt(io[at + R.ownerHi]) << 32n) | BigInt(io[at + R.ownerLo]);
}

/** A reusable scan buffer per segment (a typed array costs ~0.5 us to allocate in Deno). */
class Scanner implements Batch {
  readonly io: Float64Array;
  readonly bytes: Uint8Array;
  count = 0;
  size = 0;
  skipped = 0;
  scanned = 0;
  live = 0;
  dead = 0;
  deaths = 0;
  overflowCount = 0;
  reclaimedCount = 0;

  constructor(seg: Segment) {
    const g = seg.geometry;
    const room = Math.min(CHUNK, g.capacity);
    const maxRecord = R.values + 2 * g.fieldCount + 8;
    // Records, then room for the shim's list of slots to retry (int32 each).
    this.io = new Float64Array(IO.head + room * maxRecord + Math.ceil(room / 2));
    this.bytes = new Uint8Array(this.io.buffer);
    this.io[IO.base] = seg.address;
    this.io[IO.length] = g.totalSize;
    this.io[IO.headerSize] = g.headerSize;
    this.io[IO.stride] = g.slotStride;
    this.io[IO.fields] = g.fieldCount;
    this.io[IO.maxRecords] = room;
    this.io[IO.processKinds] = seg.kinds.reduce((m, k, j) => (k === "process" ? m + 2 ** j : m), 0);
  }
}

const scanners = new WeakMap<Segment, Scanner>();

function scannerOf(seg: Segment): Scanner {
  let sc = scanners.get(seg);
  if (sc === undefined) {
    sc = new Scanner(seg);
    scanners.set(seg, sc);
  }
  return sc;
}

/**
 * The per-field sums of live values, accumulated by SCAN_LIVE scans since
 * the last call of this function for `seg` (which zeroes them): a view, valid
 * until the next scan.
 */
export function takeSums(seg: Segment): Float64Array {
  const io = scannerOf(seg).io;
  return io.subarray(IO.sums, IO.sums + seg.geometry.fieldCount);
}

/** Zero the per-field sums before a read that accumulates them over several batches. */
export function resetSums(seg: Segment): void {
  scannerOf(seg).io.fill(0, IO.sums, IO.sums + seg.geometry.fieldCount);
}

/**
 * Read slots [start, start + count) (at most {@linkcode CHUNK}) of `seg`:
 * one record per active slot. `deadline` is a `performance.now()` time
 * after which the shim stops early (0: none). Throws `TRUNCATED` or
 * `NO_SPACE` when the mapping faulted.
 */
export function scanBatch(seg: Segment, start: number, count: number, flags: number, deadline = 0): Batch {
  const sc = scannerOf(seg);
  const io = sc.io;
  io[IO.start] = start;
  io[IO.count] = count;
  io[IO.flags] = flags;
  if (flags & (SCAN_LIVE | SCAN_JUDGE)) io[IO.judge] = seg.judge();
  // The shim measures its own budget from the moment of the call.
  io[IO.budget] = deadline > 0 ? Math.max(0.001, deadline - performance.now()) : 0;
  const n = seg.native.ms_scan(io);
  if (n < 0) throw scanError(seg, n);
  sc.count = n;
  sc.size = io[IO.recordSize];
  sc.skipped = io[IO.skipped];
  sc.scanned = io[IO.scanned];
  sc.live = io[IO.live];
  sc.dead = io[IO.dead];
  sc.deaths = io[IO.deaths];
  sc.overflowCount = io[IO.overflow];
  sc.reclaimedCount = io[IO.reclaimed];
  return sc;
}

function scanError(seg: Segment, rc: number): MemstatsError {
  if (rc !== -ERRNO.EFAULT) {
    return new MemstatsError("IO", `reading segment ${seg.name} failed (${-rc})`, seg.name);
  }
  // SIGBUS inside the scan: was the file cut short, or could a page not be supplied?
  const n = seg.native;
  const fd = n.ms_open(seg.name, OpenKind.attachReadOnly, 0);
  const st = new Float64Array(7);
  const size = fd >= 0 && n.ms_fstat(fd, st) === 0 ? st[0] : -1;
  if (fd >= 0) n.ms_close(fd);
  if (size >= 0 && size >= seg.geometry.totalSize) {
    return noSpaceError(n, seg.name, seg.geometry.totalSize, "read");
  }
  return new MemstatsError(
    "TRUNCATED",
    `segment ${seg.name} was truncated while it was being read (it is ${
      size < 0 ? "gone" : `${size} bytes`
    }, ` +
      `${seg.geometry.totalSize} expected); open it again`,
    seg.name,
  );
}

/** The header's counters, read through the guarded scan: `[overflowCount, reclaimedCount]`. */
export function readCounters(seg: Segment): { overflowCount: number; reclaimedCount: number } {
  const b = scanBatch(seg, 0, 0, 0);
  return { overflowCount: b.overflowCount, reclaimedCount: b.reclaimedCount };
}
