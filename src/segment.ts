/**
 * A mapped segment: creates or attaches a name, validates every header value
 * against the real file size before any view is built, and owns the typed
 * array views the rest of the core reads and writes through.
 *
 * @module
 */
import { ERRNO, errnoName, MemstatsError } from "./errors.ts";
import { type Mapping, OpenKind, type Platform } from "./ffi/mod.ts";
import {
  CACHE_LINE,
  DEFAULT_CAPACITY,
  DEFAULT_FIELDS,
  ENDIAN_MARKER,
  FIELD_NAME_SIZE,
  type Geometry,
  geometry,
  H,
  HEADER_FIXED,
  headerSizeFor,
  MAGIC,
  MAX_CAPACITY,
  MAX_FIELDS,
  slotStrideFor,
  STATE_READY,
  VERSION_MAJOR,
  VERSION_MINOR,
} from "./layout.ts";
import { validateFields, validateSegmentName } from "./names.ts";

/** Options for opening a segment; see `MemoryStatsRegistry.open`. */
export interface SegmentOptions {
  /** Number of slots when creating (default 64); when attaching, must match if given. */
  capacity?: number;
  /** Field names when creating (default `["arena_bytes"]`); when attaching, must match if given. */
  fields?: readonly string[];
  /** Permission bits when creating (default `0o600`), applied exactly (no umask). */
  mode?: number;
  /** Create the segment when it does not exist (default true). */
  create?: boolean;
  /** Attach read-only: `O_RDONLY` and `PROT_READ`; every write throws `READ_ONLY`. */
  readOnly?: boolean;
  /** Attach a segment owned by another user (default false: refused with `EACCES`). */
  allowForeignOwner?: boolean;
  /** How long to wait for a segment another process is still initialising (default 2000 ms). */
  openTimeoutMs?: number;
}

/** What `fstat` said about the segment's file when it was opened. */
export interface SegmentFileInfo {
  /** File size in bytes. */
  readonly size: number;
  /** Owner's user id. */
  readonly uid: number;
  /** Permission bits, e.g. `0o600`. */
  readonly mode: number;
  /** Last modification, ms since the epoch. */
  readonly mtimeMs: number;
}

// The largest segment any valid header can describe; a bigger file is mapped only this far.
const MAX_TOTAL = headerSizeFor(MAX_FIELDS) + MAX_CAPACITY * slotStrideFor(MAX_FIELDS);

/** A mapped, validated segment and its views. */
export class Segment {
  /** The segment name, e.g. `/memstats-1000`. */
  readonly name: string;
  /** Whether it was attached read-only. */
  readonly readOnly: boolean;
  /** Sizes of the header and slots. */
  readonly geometry: Geometry;
  /** Field names, in slot order. */
  readonly fields: readonly string[];
  /** Layout minor version found in the header. */
  readonly versionMinor: number;
  /** Whether this call created and initialised the segment. */
  readonly created: boolean;
  /** File facts at open time. */
  readonly info: SegmentFileInfo;
  /** Byte view of the whole segment. */
  readonly u8: Uint8Array;
  /** u32 view (Atomics on seq and header words). */
  readonly u32: Uint32Array;
  /** u64 view (Atomics on owner words and counters). */
  readonly u64: BigUint64Array;
  /** f64 view (values, peaks, times). */
  readonly f64: Float64Array;
  readonly #platform: Platform;
  #mapping: Mapping | undefined;

  /** Use {@linkcode openSegment}. */
  constructor(
    platform: Platform,
    name: string,
    mapping: Mapping,
    g: Geometry,
    fields: readonly string[],
    readOnly: boolean,
    created: boolean,
    info: SegmentFileInfo,
    versionMinor: number,
  ) {
    this.#platform = platform;
    this.name = name;
    this.#mapping = mapping;
    this.geometry = g;
    this.fields = fields;
    this.readOnly = readOnly;
    this.created = created;
    this.info = info;
    this.versionMinor = versionMinor;
    this.u8 = new Uint8Array(mapping.buffer, 0, g.totalSize);
    this.u32 = new Uint32Array(mapping.buffer, 0, g.totalSize / 4);
    this.u64 = new BigUint64Array(mapping.buffer, 0, g.totalSize / 8);
    this.f64 = new Float64Array(mapping.buffer, 0, g.totalSize / 8);
  }

  /** Whether the mapping is still in place. */
  get mapped(): boolean {
    return this.#mapping !== undefined;
  }

  /** The platform this segment was opened with. */
  get platform(): Platform {
    return this.#platform;
  }

  /** Take a fresh id from the header counter; ids start at 1 and are never reused. */
  takeOwnerId(): bigint {
    return Atomics.add(this.u64, H.nextOwnerId / 8, 1n);
  }

  /** Add to the overflow or reclaimed counter. */
  bump(counter: "overflowCount" | "reclaimedCount", by = 1n): void {
    Atomics.add(this.u64, H[counter] / 8, by);
  }

  /** Read a u64 header counter as a number. */
  counter(counter: "overflowCount" | "reclaimedCount" | "nextOwnerId"): number {
    return Number(Atomics.load(this.u64, H[counter] / 8));
  }

  /** Creation time, ms since the epoch. */
  get createdAt(): number {
    return this.f64[H.createdAt / 8];
  }

  /** Pid of the process that created the segment. */
  get creatorPid(): number {
    return this.u32[H.creatorPid / 4];
  }

  /**
   * Unmap. The views become unusable; callers must drop every reference to
   * them first (the registry swaps its slot handles onto private memory).
   */
  unmap(): void {
    if (!this.#mapping) return;
    this.#platform.shim.unmap(this.#mapping);
    this.#mapping = undefined;
  }
}

function fail(
  code: "NOT_FOUND" | "EACCES" | "IO" | "INVALID_NAME" | "BAD_MAGIC",
  name: string,
  msg: string,
): never {
  throw new MemstatsError(code, msg, name);
}

function openError(name: string, rc: number, what: string): never {
  const e = -rc;
  if (e === ERRNO.ENOENT) {
    fail(
      "NOT_FOUND",
      name,
      `segment ${name} does not exist; start a writer first, or open it with create: true`,
    );
  }
  if (e === ERRNO.EACCES || e === ERRNO.EPERM) {
    fail(
      "EACCES",
      name,
      `permission denied ${what} segment ${name}; it belongs to another user or its mode forbids you (see memstats ls)`,
    );
  }
  if (e === ERRNO.ELOOP) fail("EACCES", name, `segment ${name} is a symbolic link; refusing to follow it`);
  if (e === ERRNO.ENOTREG) {
    fail("BAD_MAGIC", name, `${name} is not a regular file, so not a memstats segment`);
  }
  if (e === ERRNO.EINVAL) fail("INVALID_NAME", name, `the system rejected the segment name ${name}`);
  fail("IO", name, `${what} segment ${name} failed: ${errnoName(rc)}`);
}

function validateOptions(o: SegmentOptions): void {
  if (o.capacity !== undefined) {
    if (!Number.isInteger(o.capacity) || o.capacity < 1 || o.capacity > MAX_CAPACITY) {
      throw new MemstatsError(
        "SCHEMA",
        `capacity must be an integer from 1 to ${MAX_CAPACITY}, got ${o.capacity}`,
      );
    }
  }
  if (o.fields !== undefined) validateFields(o.fields);
  if (o.mode !== undefined && (!Number.isInteger(o.mode) || o.mode < 0 || o.mode > 0o777)) {
    throw new MemstatsError(
      "INVALID_ARGUMENT",
      `mode must be permission bits from 0 to 0o777, got ${o.mode}`,
    );
  }
  if (o.openTimeoutMs !== undefined && !(o.openTimeoutMs >= 0)) {
    throw new MemstatsError("INVALID_ARGUMENT", `openTimeoutMs must be >= 0, got ${o.openTimeoutMs}`);
  }
}

const stat = new Float64Array(5);

function fstat(p: Platform, fd: number, name: string): { file: SegmentFileInfo; euid: number } {
  const rc = p.shim.fstat(fd, stat);
  if (rc < 0) openError(name, rc, "inspecting");
  return { file: { size: stat[0], uid: stat[1], mode: stat[2], mtimeMs: stat[3] }, euid: stat[4] };
}

/**
 * Open `name`: create it exclusively when allowed and missing, otherwise
 * attach and validate. Throws a `MemstatsError` for every bad input.
 */
export function openSegment(p: Platform, name: string, options: SegmentOptions = {}): Segment {
  validateSegmentName(name);
  validateOptions(options);
  const readOnly = options.readOnly === true;
  const create = options.create !== false && !readOnly;
  if (create) {
    const fields = options.fields ?? DEFAULT_FIELDS;
    const g = geometry(options.capacity ?? DEFAULT_CAPACITY, fields.length);
    const fd = p.shim.open(name, OpenKind.createExclusive, options.mode ?? 0o600);
    if (fd >= 0) return initialise(p, name, fd, g, fields, options.mode ?? 0o600);
    if (-fd !== ERRNO.EEXIST) openError(name, fd, "creating");
  }
  const fd = p.shim.open(name, readOnly ? OpenKind.attachReadOnly : OpenKind.attach, 0);
  if (fd < 0) openError(name, fd, readOnly ? "reading" : "opening");
  try {
    return attach(p, name, fd, options, readOnly);
  } finally {
    p.shim.close(fd);
  }
}

function initialise(
  p: Platform,
  name: string,
  fd: number,
  g: Geometry,
  fields: readonly string[],
  mode: number,
): Segment {
  let mapping: Mapping | number = -1;
  try {
    let rc = p.shim.fchmod(fd, mode);
    if (rc >= 0) rc = p.shim.ftruncate(fd, g.totalSize);
    if (rc < 0) openError(name, rc, "sizing");
    mapping = p.shim.map(fd, g.totalSize, false);
    if (typeof mapping === "number") openError(name, mapping, "mapping");
    const seg = new Segment(p, name, mapping, g, fields, false, true, fstat(p, fd, name).file, VERSION_MINOR);
    writeHeader(seg, p.shim.pid());
    return seg;
  } catch (e) {
    if (typeof mapping !== "number") p.shim.unmap(mapping);
    p.shim.unlink(name); // never leave a half-made segment behind
    throw e;
  } finally {
    p.shim.close(fd);
  }
}

function writeHeader(seg: Segment, pid: number): void {
  const { u8, u32, u64, f64, geometry: g } = seg;
  u8.set(MAGIC, H.magic);
  u32[H.versionMajor / 4] = VERSION_MAJOR | (VERSION_MINOR << 16);
  u32[H.endian / 4] = ENDIAN_MARKER;
  u32[H.headerSize / 4] = g.headerSize;
  u32[H.slotStride / 4] = g.slotStride;
  u32[H.capacity / 4] = g.capacity;
  u32[H.fieldCount / 4] = g.fieldCount;
  u64[H.totalSize / 8] = BigInt(g.totalSize);
  u64[H.nextOwnerId / 8] = 1n;
  f64[H.createdAt / 8] = Date.now();
  u32[H.creatorPid / 4] = pid;
  const enc = new TextEncoder();
  seg.fields.forEach((f, i) => enc.encodeInto(f, u8.subarray(H.fieldNames + i * FIELD_NAME_SIZE)));
  // Published last: a reader that sees READY sees every byte above.
  Atomics.store(u32, H.state / 4, STATE_READY);
}

/** Why a header is not (yet) usable: a final error, or "wait" while its creator is still writing it. */
type HeaderVerdict =
  | { ok: true; g: Geometry; fields: string[]; minor: number }
  | { ok: false; wait: boolean; error: MemstatsError };

function inspectHeader(name: string, buf: ArrayBuffer, size: number): HeaderVerdict {
  const bad = (
    code: "BAD_MAGIC" | "VERSION" | "TRUNCATED" | "SCHEMA",
    msg: string,
    wait = false,
  ): HeaderVerdict => ({
    ok: false,
    wait,
    error: new MemstatsError(code, msg, name),
  });
  if (size < HEADER_FIXED) {
    return bad(
      "TRUNCATED",
      `segment ${name} is ${size} bytes, smaller than a ${HEADER_FIXED}-byte header; its creator died before sizing it, ` +
        `or it is not a memstats segment: remove it with \`memstats rm ${name}\``,
      size === 0,
    );
  }
  const u8 = new Uint8Array(buf, 0, HEADER_FIXED);
  const u32 = new Uint32Array(buf, 0, HEADER_FIXED / 4);
  const u64 = new BigUint64Array(buf, 0, HEADER_FIXED / 8);
  // State first (acquire): until the creator publishes it, the magic, version and endian words
  // may not be written yet. A 64-bit atomic load: JSC's 32-bit Atomics.load writes, which faults
  // on a read-only mapping.
  const ready = Number(Atomics.load(u64, H.state / 8) & 0xffffffffn) === STATE_READY;
  const unfinished = () =>
    bad(
      "TRUNCATED",
      `segment ${name} was never finished by its creator (pid ${u32[H.creatorPid / 4]}); ` +
        `remove it with \`memstats rm ${name}\` and start again`,
      true,
    );
  const blank = u8.subarray(0, 8).every((b) => b === 0);
  const endian = u32[H.endian / 4];
  const major = u32[H.versionMajor / 4] & 0xffff;
  const minor = u32[H.versionMajor / 4] >>> 16;
  // Unpublished, and every word so far either right or still zero: a creator mid-header.
  if (
    !ready && !blank && MAGIC.every((b, i) => u8[i] === b || u8[i] === 0) &&
    (endian === ENDIAN_MARKER || endian === 0) && (major === VERSION_MAJOR || (major | minor) === 0)
  ) return unfinished();
  if (!MAGIC.every((b, i) => u8[i] === b)) {
    return bad("BAD_MAGIC", `${name} is not a memstats segment (wrong magic bytes); check the name`, blank);
  }
  if (endian !== ENDIAN_MARKER) {
    return bad("BAD_MAGIC", `${name} was written with the other byte order or is corrupt (endian marker)`);
  }
  if (major !== VERSION_MAJOR) {
    return bad(
      "VERSION",
      `${name} uses layout ${major}.${minor}; this memstats-shm reads layout ${VERSION_MAJOR}.x: ` +
        (major > VERSION_MAJOR ? "upgrade @memstats/shm" : "recreate the segment"),
    );
  }
  if (!ready) return unfinished();
  const fieldCount = u32[H.fieldCount / 4];
  const capacity = u32[H.capacity / 4];
  const headerSize = u32[H.headerSize / 4];
  const stride = u32[H.slotStride / 4];
  const corrupt = (what: string) =>
    bad("SCHEMA", `segment ${name} has a corrupt header: ${what}; remove it and start again`);
  if (fieldCount < 1 || fieldCount > MAX_FIELDS) return corrupt(`field count ${fieldCount}`);
  if (capacity < 1 || capacity > MAX_CAPACITY) return corrupt(`capacity ${capacity}`);
  if (headerSize !== headerSizeFor(fieldCount)) {
    return corrupt(`header size ${headerSize} for ${fieldCount} fields`);
  }
  // A newer minor may grow the slot; it must still be whole cache lines and hold our fields.
  if (stride < slotStrideFor(fieldCount) || stride % CACHE_LINE !== 0 || stride > 1 << 16) {
    return corrupt(`slot stride ${stride}`);
  }
  const total = headerSize + capacity * stride;
  if (u64[H.totalSize / 8] !== BigInt(total)) {
    return corrupt(`total size ${u64[H.totalSize / 8]}, expected ${total}`);
  }
  if (size < total) {
    return bad(
      "TRUNCATED",
      `segment ${name} is ${size} bytes but its header describes ${total}; it was truncated: remove it and start again`,
    );
  }
  const names = new Uint8Array(buf, H.fieldNames, fieldCount * FIELD_NAME_SIZE);
  const fields: string[] = [];
  const dec = new TextDecoder("utf-8", { fatal: false });
  for (let i = 0; i < fieldCount; i++) {
    const raw = names.subarray(i * FIELD_NAME_SIZE, (i + 1) * FIELD_NAME_SIZE);
    const end = raw.indexOf(0);
    const field = dec.decode(raw.subarray(0, end === -1 ? FIELD_NAME_SIZE : end));
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,30}$/.test(field) || fields.includes(field)) {
      return corrupt(`field name ${JSON.stringify(field)}`);
    }
    fields.push(field);
  }
  return {
    ok: true,
    g: { capacity, fieldCount, headerSize, slotStride: stride, totalSize: total },
    fields,
    minor,
  };
}

function attach(p: Platform, name: string, fd: number, o: SegmentOptions, readOnly: boolean): Segment {
  const deadline = Date.now() + (o.openTimeoutMs ?? 2000);
  for (let pause = 1;; pause = Math.min(pause * 2, 50)) {
    const { file: info, euid } = fstat(p, fd, name);
    if (info.uid !== euid && o.allowForeignOwner !== true) {
      fail(
        "EACCES",
        name,
        `segment ${name} belongs to uid ${info.uid}, not to you (uid ${euid}); ` +
          `pass allowForeignOwner: true (CLI: --allow-foreign) if you trust that user`,
      );
    }
    const length = Math.min(info.size, MAX_TOTAL);
    let verdict: HeaderVerdict;
    let mapping: Mapping | number | undefined;
    if (length < HEADER_FIXED) {
      verdict = inspectHeader(name, new ArrayBuffer(0), info.size);
    } else {
      mapping = p.shim.map(fd, length, readOnly);
      if (typeof mapping === "number") openError(name, mapping, "mapping");
      verdict = inspectHeader(name, mapping.buffer, info.size);
    }
    if (verdict.ok && mapping !== undefined && typeof mapping !== "number") {
      try {
        checkSchema(name, verdict.g, verdict.fields, o);
        return new Segment(p, name, mapping, verdict.g, verdict.fields, readOnly, false, info, verdict.minor);
      } catch (e) {
        p.shim.unmap(mapping); // a refused attach must not leave its mapping behind
        throw e;
      }
    }
    if (mapping !== undefined && typeof mapping !== "number") p.shim.unmap(mapping);
    if (verdict.ok) throw new Error("unreachable");
    if (!verdict.wait || Date.now() >= deadline) throw verdict.error;
    p.shim.sleepMs(pause); // its creator is between O_EXCL and publishing READY
  }
}

function checkSchema(name: string, g: Geometry, fields: readonly string[], o: SegmentOptions): void {
  if (o.capacity !== undefined && o.capacity !== g.capacity) {
    throw new MemstatsError(
      "SCHEMA",
      `segment ${name} has capacity ${g.capacity}, not ${o.capacity}; open it without capacity, ` +
        `or use another name for a table of ${o.capacity}`,
      name,
    );
  }
  if (o.fields !== undefined && o.fields.join(",") !== fields.join(",")) {
    throw new MemstatsError(
      "SCHEMA",
      `segment ${name} has fields [${fields.join(", ")}], not [${
        o.fields.join(", ")
      }]; open it without fields, ` +
        `or use another name`,
      name,
    );
  }
}

/** Remove a segment name; live mappings stay valid until unmapped. */
export function unlinkSegment(p: Platform, name: string): boolean {
  validateSegmentName(name);
  const rc = p.shim.unlink(name);
  if (rc === -ERRNO.ENOENT) return false;
  if (rc < 0) openError(name, rc, "removing");
  return true;
}
