/**
 * Layout 1.1 of a memstats segment: the one source of truth for every offset,
 * size and constant. `docs/FORMAT.md` documents the same bytes for readers in
 * other languages; `tests/layout.test.ts` checks that the two agree.
 *
 * All integers are little-endian. Figures written on the hot path (values,
 * peaks, update time) are IEEE-754 binary64 so that JavaScript can store them
 * with one plain aligned 8-byte store instead of a BigInt conversion; they
 * hold integers exactly up to 2^53.
 *
 * @module
 */

/** The 8 magic bytes at offset 0: ASCII `MEMSTATS`. */
export const MAGIC: Uint8Array = new Uint8Array([
  0x4d,
  0x45,
  0x4d,
  0x53,
  0x54,
  0x41,
  0x54,
  0x53,
]);
/** Layout major version: a reader refuses any other major. */
export const VERSION_MAJOR = 1;
/** Layout minor version: additions that older readers may ignore (1.1 added field kinds). */
export const VERSION_MINOR = 1;
/** Written as a u32; reads back as 0x04030201 on a machine of the other byte order. */
export const ENDIAN_MARKER = 0x01020304;

/** Cache line size: the header size and slot stride are multiples of it. */
export const CACHE_LINE = 64;
/** Default number of slots. */
export const DEFAULT_CAPACITY = 64;
/** Largest capacity a segment may declare (64 MiB of slots with one field). */
export const MAX_CAPACITY = 1 << 20;
/** Largest number of fields per slot. */
export const MAX_FIELDS = 32;
/** Field names are ASCII, at most this many bytes, NUL-padded to 32. */
export const MAX_FIELD_NAME_BYTES = 31;
/** Labels are UTF-8, at most this many bytes, NUL-padded to 64. */
export const MAX_LABEL_BYTES = 63;
/** Default field list. */
export const DEFAULT_FIELDS: readonly string[] = ["arena_bytes"];

/** Header state: still being written by its creator. */
export const STATE_INITIALISING = 0;
/** Header state: published, every header byte final. */
export const STATE_READY = 1;

/** Byte offsets inside the header. */
export const H = {
  magic: 0,
  versionMajor: 8, // u16
  versionMinor: 10, // u16
  endian: 12, // u32
  headerSize: 16, // u32
  slotStride: 20, // u32
  capacity: 24, // u32
  fieldCount: 28, // u32
  state: 32, // u32, published last
  flags: 36, // u32, 0
  totalSize: 40, // u64
  nextOwnerId: 48, // u64, starts at 1
  overflowCount: 56, // u64
  reclaimedCount: 64, // u64
  createdAt: 72, // f64, ms since the Unix epoch
  creatorPid: 80, // u32
  reserved: 84, // 12 bytes, zero
  fieldKinds: 96, // u8[32], one FIELD_KIND_* per field (1.1; zero in 1.0: per thread)
  fieldNames: 128, // fieldCount * 32 bytes
} as const;

/** Field kind: a figure of the thread; totals sum it over slots. */
export const FIELD_KIND_THREAD = 0;
/**
 * Field kind: a figure of the whole process (every thread of a process
 * reports the same, e.g. its resident set size); totals count each process
 * once, with the largest value among its live slots.
 */
export const FIELD_KIND_PROCESS = 1;

/** Size of the fixed part of the header, before the field names. */
export const HEADER_FIXED = 128;
/** Bytes per field name. */
export const FIELD_NAME_SIZE = 32;

/** Byte offsets inside a slot, relative to the slot's start. */
export const S = {
  owner: 0, // u64: 0 free, bit 63 claiming, else owner id
  seq: 8, // u32 seqlock, odd while a multi-field write is under way
  flags: 12, // u32, 0
  pid: 16, // u32
  tid: 20, // u32
  token: 24, // u64: thread start time, clock ticks since boot
  pidNamespace: 32, // u64: inode of the owner's pid namespace
  registeredAt: 40, // f64 ms since epoch
  updatedAt: 48, // f64 ms since epoch
  reserved: 56, // u64, 0
  label: 64, // 64 bytes UTF-8, NUL-padded
  values: 128, // fieldCount * f64, then fieldCount * f64 peaks
} as const;

/** Size of the fixed part of a slot, before the values. */
export const SLOT_FIXED = 128;
/** Size of the label area. */
export const LABEL_SIZE = 64;

/** Owner word bit 63: a claim is in progress. */
export const CLAIMING_BIT: bigint = 1n << 63n;
/** Claim word: bits 0-21 hold the claimer's thread id. */
export const CLAIM_TID_BITS = 22n;
/** Claim word: bits 22-41 hold the low 20 bits of its start time. */
export const CLAIM_TOKEN_BITS = 20n;
/** Claim word: bits 42-62 hold the low 21 bits of its pid namespace inode. */
export const CLAIM_NS_BITS = 21n;

/** Round up to a multiple of the cache line. */
export function alignToLine(n: number): number {
  return Math.ceil(n / CACHE_LINE) * CACHE_LINE;
}

/** Header size for a field count: fixed part plus names, cache-line aligned. */
export function headerSizeFor(fieldCount: number): number {
  return alignToLine(HEADER_FIXED + FIELD_NAME_SIZE * fieldCount);
}

/** Slot stride for a field count: a multiple of 64 so slots never share a line. */
export function slotStrideFor(fieldCount: number): number {
  return alignToLine(SLOT_FIXED + 16 * fieldCount);
}

/** Sizes derived from a capacity and a field count. */
export interface Geometry {
  /** Number of slots. */
  readonly capacity: number;
  /** Number of u64/f64 values per slot. */
  readonly fieldCount: number;
  /** Bytes before slot 0. */
  readonly headerSize: number;
  /** Bytes from one slot to the next. */
  readonly slotStride: number;
  /** headerSize + capacity * slotStride. */
  readonly totalSize: number;
}

/**
 * The geometry of a segment with `capacity` slots of `fieldCount` fields.
 *
 * @example
 * ```ts
 * import { geometry } from "./layout.ts";
 * console.log(geometry(64, 1).totalSize); // 12480
 * ```
 */
export function geometry(capacity: number, fieldCount: number): Geometry {
  const headerSize = headerSizeFor(fieldCount);
  const slotStride = slotStrideFor(fieldCount);
  return {
    capacity,
    fieldCount,
    headerSize,
    slotStride,
    totalSize: headerSize + capacity * slotStride,
  };
}

/** Byte offset of slot `index`. */
export function slotOffset(g: Geometry, index: number): number {
  return g.headerSize + index * g.slotStride;
}
