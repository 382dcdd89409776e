/**
 * A mapped segment: creates or attaches a name, validates a copy of the
 * header against the real file size before anything else is read, reserves
 * the segment's memory, and owns the typed-array views writers store
 * through. Readers never touch the views: they read through the shim's
 * guarded scan (`reader.ts`).
 *
 * @module
 */
import { ERRNO, errnoName, MemstatsError } from "./errors.ts";
import { type NativeShim, OpenKind, shim } from "./ffi/mod.ts";
import {
  CACHE_LINE,
  DEFAULT_CAPACITY,
  DEFAULT_FIELDS,
  ENDIAN_MARKER,
  FIELD_KIND_PROCESS,
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
  STATE_INITIALISING,
  STATE_READY,
  VERSION_MAJOR,
  VERSION_MINOR,
} from "./layout.ts";
import {
  FIELD_NAME_PATTERN,
  type FieldKind,
  type FieldList,
  type FieldSpec,
  validateFields,
  validateSegmentName,
} from "./names.ts";

/** Options for opening a segment; see `MemoryStatsRegistry.open`. */
export interface SegmentOptions {
  /** Number of slots when creating (default 64); when attaching, must match if given. */
  capacity?: number;
  /**
   * Fields when creating (default `["arena_bytes"]`): names, or `{ name, kind }`
   * for a per-process figure. When attaching, names (and kinds, where given) must match.
   */
  fields?: readonly FieldSpec[];
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
  /** Inode number: another inode under the same name is another segment. */
  readonly ino: number;
}

// The largest segment any valid header can describe; a bigger file is mapped only this far.
const MAX_TOTAL = headerSizeFor(MAX_FIELDS) + MAX_CAPACITY * slotStrideFor(MAX_FIELDS);
// The largest header: the most a reader copies before it knows the field count.
const MAX_HEADER = headerSizeFor(MAX_FIELDS);

/** What a {@linkcode Segment} is made of. */
interface SegmentParts {
  readonly native: NativeShim;
  readonly name: string;
  readonly address: number;
  readonly length: number;
  readonly geometry: Geometry;
  readonly fields: readonly string[];
  readonly kinds: readonly FieldKind[];
  readonly readOnly: boolean;
  readonly created: boolean;
  readonly info: SegmentFileInfo;
  readonly versionMinor: number;
  readonly createdAt: number;
  readonly creatorPid: number;
}

/** A mapped, validated segment. */
export class Segment {
  /** The shim that mapped it. */
  readonly native: NativeShim;
  /** The segment name, e.g. `/memstats-1000`. */
  readonly name: string;
  /** Address of the mapping (for the shim's scan). */
  readonly address: number;
  /** Bytes mapped: at least `geometry.totalSize`. */
  readonly length: number;
  /** Whether it was attached read-only. */
  readonly readOnly: boolean;
  /** Sizes of the header and slots. */
  readonly geometry: Geometry;
  /** Field names, in slot order. */
  readonly fields: readonly string[];
  /** Field kinds, in slot order. */
  readonly kinds: readonly FieldKind[];
  /** Layout minor version found in the header. */
  readonly versionMinor: number;
  /** Whether this call created and initialised the segment. */
  readonly created: boolean;
  /** File facts at open time. */
  readonly info: SegmentFileInfo;
  /** Creation time, ms since the epoch (immutable header word). */
  readonly createdAt: number;
  /** Pid of the process that created the segment (immutable header word). */
  readonly creatorPid: number;
  /** Byte view of the whole segment: writers only. */
  readonly u8: Uint8Array;
  /** u32 view (seq words): writers only. */
  readonly u32: Uint32Array;
  /** u64 view (owner words and counters): writers only. */
  readonly u64: BigUint64Array;
  /** f64 view (values, peaks, times): writers only. */
  readonly f64: Float64Array;
  #mapped = true;
  #judge = 0;

  /** Use {@linkcode openSegment}. */
  constructor(parts: SegmentParts) {
    this.native = parts.native;
    this.name = parts.name;
    this.address = parts.address;
    this.length = parts.length;
    this.geometry = parts.geometry;
    this.fields = parts.fields;
    this.kinds = parts.kinds;
    this.readOnly = parts.readOnly;
    this.created = parts.created;
    this.info = parts.info;
    this.versionMinor = parts.versionMinor;
    this.createdAt = parts.createdAt;
    this.creatorPid = parts.creatorPid;
    const n = parts.geometry.totalSize;
    const buffer = parts.native.arrayBuffer(parts.address, n);
    this.u8 = new Uint8Array(buffer, 0, n);
    this.u32 = new Uint32Array(buffer, 0, n / 4);
    this.u64 = new BigUint64Array(buffer, 0, n / 8);
    this.f64 = new Float64Array(buffer, 0, n / 8);
  }

  /** Whether the mapping is still in place. */
  get mapped(): boolean {
    return this.#mapped;
  }

  /**
   * The shim's cache of verdicts on this table's owners (`ms_judge_new`),
   * made on first use and freed with the mapping.
   */
  judge(): number {
    if (this.#judge === 0) {
      const ns = this.native.ms_pid_namespace();
      this.#judge = this.native.ms_judge_new(this.geometry.capacity, ns > 0 ? ns : 0);
      if (this.#judge === 0) {
        throw new MemstatsError("IO", `out of memory for the owners of segment ${this.name}`, this.name);
      }
    }
    return this.#judge;
  }

  /** Take a fresh id from the header counter; ids start at 1 and are never reused. */
  takeOwnerId(): bigint {
    return Atomics.add(this.u64, H.nextOwnerId / 8, 1n);
  }

  /** Add to the overflow or reclaimed counter (writers only). */
  bump(counter: "overflowCount" | "reclaimedCount", by = 1n): void {
    Atomics.add(this.u64, H[counter] / 8, by);
  }

  /**
   * Unmap. Slots still tracked by the shim inside the mapping are released
   * first. The views become unusable: callers must drop every reference to
   * them (the registry swaps its slot handles onto private memory).
   */
  unmap(): void {
    if (!this.#mapped) return;
    this.#mapped = false;
    this.native.ms_unmap(this.address, this.length);
    if (this.#judge !== 0) this.native.ms_judge_free(this.#judge);
    this.#judge = 0;
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

function validateOptions(o: SegmentOptions): FieldList | undefined {
  if (o.capacity !== undefined) {
    if (!Number.isInteger(o.capacity) || o.capacity < 1 || o.capacity > MAX_CAPACITY) {
      throw new MemstatsError(
        "SCHEMA",
        `capacity must be an integer from 1 to ${MAX_CAPACITY}, got ${o.capacity}`,
      );
    }
  }
  if (o.mode !== undefined && (!Number.isInteger(o.mode) || o.mode < 0 || o.mode > 0o777)) {
    throw new MemstatsError(
      "INVALID_ARGUMENT",
      `mode must be permission bits from 0 to 0o777, got ${o.mode}`,
    );
  }
  if (o.openTimeoutMs !== undefined && !(o.openTimeoutMs >= 0)) {
    throw new MemstatsError("INVALID_ARGUMENT", `openTimeoutMs must be >= 0, got ${o.openTimeoutMs}`);
  }
  return o.fields === undefined ? undefined : validateFields(o.fields);
}

const stat = new Float64Array(7);

function fstat(
  n: NativeShim,
  fd: number,
  name: string,
): { file: SegmentFileInfo; euid: number; allocated: number } {
  const rc = n.ms_fstat(fd, stat);
  if (rc < 0) openError(name, rc, "inspecting");
  return {
    file: { size: stat[0], uid: stat[1], mode: stat[2], mtimeMs: stat[3], ino: stat[6] },
    euid: stat[4],
    allocated: stat[5],
  };
}

/** The directory POSIX shared memory lives in (Linux); its free space explains ENOSPC. */
const SHM_DIR = "/dev/shm";

function mib(n: number): string {
  return `${(n / 1048576).toFixed(n < 10 * 1048576 ? 1 : 0)} MiB`;
}

/**
 * The NO_SPACE error: `reserve` when creating or attaching a writer (too big
 * for what /dev/shm has left), `read` when a reader met a page of a sparse
 * segment that /dev/shm could not supply. Says how much is free and what to do.
 */
export function noSpaceError(
  n: NativeShim,
  name: string,
  bytes: number,
  what: "reserve" | "read",
): MemstatsError {
  const space = new Float64Array(2);
  const fs = n.ms_statvfs(SHM_DIR, space) === 0
    ? `${SHM_DIR} has ${mib(space[0])} free of ${mib(space[1])}`
    : "";
  const grow = `give the container more shared memory (Docker: --shm-size; Kubernetes: an emptyDir ` +
    `with medium: Memory and a larger sizeLimit)`;
  const msg = what === "reserve"
    ? `cannot reserve ${mib(bytes)} of shared memory for segment ${name}${fs ? `: ${fs}` : ""}; ` +
      `open it with a smaller capacity or fewer fields, or ${grow}`
    : `cannot read segment ${name}: a page of it was never reserved (an older writer sized it without ` +
      `reserving) and shared memory is full${
        fs ? ` (${fs})` : ""
      }; free some, ${grow}, or recreate the segment`;
  return new MemstatsError("NO_SPACE", msg, name);
}

/**
 * Open `name`: create it exclusively when allowed and missing, otherwise
 * attach and validate. Throws a `MemstatsError` for every bad input.
 */
export function openSegment(name: string, options: SegmentOptions = {}): Segment {
  validateSegmentName(name);
  const fieldList = validateOptions(options);
  const n = shim();
  const readOnly = options.readOnly === true;
  const create = options.create !== false && !readOnly;
  if (create) {
    const fields = fieldList ?? validateFields(DEFAULT_FIELDS);
    const g = geometry(options.capacity ?? DEFAULT_CAPACITY, fields.names.length);
    const fd = n.ms_open(name, OpenKind.createExclusive, options.mode ?? 0o600);
    if (fd >= 0) return initialise(n, name, fd, g, fields, options.mode ?? 0o600);
    if (-fd !== ERRNO.EEXIST) openError(name, fd, "creating");
  }
  const fd = n.ms_open(name, readOnly ? OpenKind.attachReadOnly : OpenKind.attach, 0);
  if (fd < 0) openError(name, fd, readOnly ? "reading" : "opening");
  try {
    return attach(n, name, fd, options, fieldList, readOnly);
  } finally {
    n.ms_close(fd);
  }
}

function initialise(
  n: NativeShim,
  name: string,
  fd: number,
  g: Geometry,
  fields: FieldList,
  mode: number,
): Segment {
  let address = -1;
  try {
    let rc = n.ms_fchmod(fd, mode);
    if (rc >= 0) rc = n.ms_ftruncate(fd, g.totalSize);
    if (rc < 0) openError(name, rc, "sizing");
    // Every page now: a full /dev/shm fails here, not with SIGBUS at the first touch of a page.
    rc = n.ms_fallocate(fd, g.totalSize);
    if (rc === -ERRNO.ENOSPC) throw noSpaceError(n, name, g.totalSize, "reserve");
    if (rc < 0) openError(name, rc, "reserving memory for");
    address = n.ms_map(fd, g.totalSize, 0);
    if (address < 0) openError(name, address, "mapping");
    const pid = n.ms_getpid();
    const createdAt = Date.now();
    const seg = new Segment({
      native: n,
      name,
      address,
      length: g.totalSize,
      geometry: g,
      fields: fields.names,
      kinds: fields.kinds,
      readOnly: false,
      created: true,
      info: fstat(n, fd, name).file,
      versionMinor: VERSION_MINOR,
      createdAt,
      creatorPid: pid,
    });
    writeHeader(seg, pid, createdAt);
    return seg;
  } catch (e) {
    if (address >= 0) n.ms_unmap(address, g.totalSize);
    n.ms_unlink(name); // never leave a half-made segment behind
    throw e;
  } finally {
    n.ms_close(fd);
  }
}

function writeHeader(seg: Segment, pid: number, createdAt: number): void {
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
  f64[H.createdAt / 8] = createdAt;
  u32[H.creatorPid / 4] = pid;
  seg.kinds.forEach((k, i) => (u8[H.fieldKinds + i] = k === "process" ? FIELD_KIND_PROCESS : 0));
  const enc = new TextEncoder();
  seg.fields.forEach((f, i) => enc.encodeInto(f, u8.subarray(H.fieldNames + i * FIELD_NAME_SIZE)));
  // Published last, with a release store: a reader whose acquire load sees READY sees every byte above.
  Atomics.store(u32, H.state / 4, STATE_READY);
}

/** Why a header is not (yet) usable: a final error, or "wait" while its creator is still writing it. */
type HeaderVerdict =
  | { ok: true; g: Geometry; fields: FieldList; minor: number; createdAt: number; creatorPid: number }
  | { ok: false; wait: boolean; error: MemstatsError };

/**
 * Judge a copy of the first `head.length` bytes of a file of `size` bytes,
 * whose `state` word was read with an acquire load (FORMAT.md, "Validating a
 * header").
 */
function inspectHeader(name: string, head: Uint8Array, size: number, state: number): HeaderVerdict {
  const bad = (
    code: "BAD_MAGIC" | "BYTE_ORDER" | "VERSION" | "TRUNCATED" | "SCHEMA",
    msg: string,
    wait = false,
  ): HeaderVerdict => ({ ok: false, wait, error: new MemstatsError(code, msg, name) });
  if (size < HEADER_FIXED) {
    // Too small for a header. Ours only if what is there is the start of one (or nothing yet).
    if (!MAGIC.every((b, i) => i >= head.length || head[i] === b || head[i] === 0)) {
      return bad("BAD_MAGIC", `${name} is not a memstats segment (${size} bytes, no magic); check the name`);
    }
    return bad(
      "TRUNCATED",
      size === 0
        ? `segment ${name} is empty: its creator has not sized it yet, or died before it could; ` +
          `if no program is starting, remove it with \`memstats rm ${name}\``
        : `segment ${name} is ${size} bytes, smaller than a ${HEADER_FIXED}-byte header: its creator died ` +
          `while sizing it; remove it with \`memstats rm ${name}\``,
      size === 0,
    );
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const u32 = (off: number) => view.getUint32(off, true);
  const ready = state === STATE_READY;
  const unfinished = () =>
    bad(
      "TRUNCATED",
      `segment ${name} was never finished by its creator (pid ${u32(H.creatorPid)}); ` +
        `remove it with \`memstats rm ${name}\` and start again`,
      true,
    );
  const blank = head.subarray(0, 8).every((b) => b === 0);
  const endian = u32(H.endian);
  const major = view.getUint16(H.versionMajor, true);
  const minor = view.getUint16(H.versionMinor, true);
  // Unpublished, and every word so far either right or still zero: a creator mid-header.
  if (
    state === STATE_INITIALISING && !blank && MAGIC.every((b, i) => head[i] === b || head[i] === 0) &&
    (endian === ENDIAN_MARKER || endian === 0) && (major === VERSION_MAJOR || (major | minor) === 0)
  ) return unfinished();
  if (!MAGIC.every((b, i) => head[i] === b)) {
    return bad("BAD_MAGIC", `${name} is not a memstats segment (wrong magic bytes); check the name`, blank);
  }
  if (endian === 0x04030201) {
    return bad(
      "BYTE_ORDER",
      `${name} was written by a machine of the other byte order; read it on a machine like the one that wrote it`,
    );
  }
  const corrupt = (what: string) =>
    bad("SCHEMA", `segment ${name} has a corrupt header: ${what}; remove it and start again`);
  if (endian !== ENDIAN_MARKER) return corrupt(`endian marker 0x${endian.toString(16)}`);
  if (major !== VERSION_MAJOR) {
    return bad(
      "VERSION",
      `${name} uses layout ${major}.${minor}; this memstats-shm reads layout ${VERSION_MAJOR}.x: ` +
        (major > VERSION_MAJOR ? "upgrade @memstats/shm" : "recreate the segment"),
    );
  }
  if (state === STATE_INITIALISING) return unfinished();
  if (!ready) return corrupt(`state ${state}`);
  const fieldCount = u32(H.fieldCount);
  const capacity = u32(H.capacity);
  const headerSize = u32(H.headerSize);
  const stride = u32(H.slotStride);
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
  const declared = view.getBigUint64(H.totalSize, true);
  if (declared !== BigInt(total)) return corrupt(`total size ${declared}, expected ${total}`);
  if (size < total) {
    return bad(
      "TRUNCATED",
      `segment ${name} is ${size} bytes but its header describes ${total}; it was truncated: remove it and start again`,
    );
  }
  if (head.length < headerSize) return corrupt(`header of ${headerSize} bytes cut short`);
  const dec = new TextDecoder("utf-8", { fatal: false });
  const names: string[] = [];
  const kinds: FieldKind[] = [];
  for (let i = 0; i < fieldCount; i++) {
    const raw = head.subarray(H.fieldNames + i * FIELD_NAME_SIZE, H.fieldNames + (i + 1) * FIELD_NAME_SIZE);
    const end = raw.indexOf(0);
    const field = dec.decode(raw.subarray(0, end === -1 ? FIELD_NAME_SIZE : end));
    if (!FIELD_NAME_PATTERN.test(field) || names.includes(field)) {
      return corrupt(`field name ${JSON.stringify(field)}`);
    }
    names.push(field);
    // Layout 1.0 has zeros here: every field per thread. A kind this version does not know counts per thread.
    kinds.push(head[H.fieldKinds + i] === FIELD_KIND_PROCESS ? "process" : "thread");
  }
  return {
    ok: true,
    g: { capacity, fieldCount, headerSize, slotStride: stride, totalSize: total },
    fields: { names, kinds },
    minor,
    createdAt: view.getFloat64(H.createdAt, true),
    creatorPid: u32(H.creatorPid),
  };
}

const head = new Uint8Array(MAX_HEADER);
const stateOut = new Uint32Array(1);

function attach(
  n: NativeShim,
  name: string,
  fd: number,
  o: SegmentOptions,
  wanted: FieldList | undefined,
  readOnly: boolean,
): Segment {
  const deadline = Date.now() + (o.openTimeoutMs ?? 2000);
  for (let pause = 1;; pause = Math.min(pause * 2, 50)) {
    const { file: info, euid } = fstat(n, fd, name);
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
    let address = -1;
    if (length === 0) {
      verdict = inspectHeader(name, new Uint8Array(0), 0, 0);
    } else {
      address = n.ms_map(fd, length, readOnly ? 1 : 0);
      if (address < 0) openError(name, address, "mapping");
      const copied = Math.min(length, MAX_HEADER);
      // A file too small for a header has no state word: acquire-load offset 0 instead.
      const rc = n.ms_read(address, copied, copied > H.state ? H.state : 0, head, stateOut);
      verdict = rc === -ERRNO.EFAULT
        ? faulted(n, fd, name, length)
        : inspectHeader(name, head.subarray(0, copied), info.size, copied > H.state ? stateOut[0] : 0);
    }
    if (verdict.ok) {
      try {
        checkSchema(name, verdict.g, verdict.fields, o, wanted);
        if (!readOnly) reserve(n, fd, name, verdict.g.totalSize);
        return new Segment({
          native: n,
          name,
          address,
          length,
          geometry: verdict.g,
          fields: verdict.fields.names,
          kinds: verdict.fields.kinds,
          readOnly,
          created: false,
          info,
          versionMinor: verdict.minor,
          createdAt: verdict.createdAt,
          creatorPid: verdict.creatorPid,
        });
      } catch (e) {
        n.ms_unmap(address, length); // a refused attach must not leave its mapping behind
        throw e;
      }
    }
    if (address >= 0) n.ms_unmap(address, length);
    if (!verdict.wait || Date.now() >= deadline) throw verdict.error;
    n.ms_sleep_ms(pause); // its creator is between O_EXCL and publishing READY
  }
}

/** A writer makes sure every page exists (a segment made by an older version may be sparse). */
function reserve(n: NativeShim, fd: number, name: string, total: number): void {
  const rc = n.ms_fallocate(fd, total);
  if (rc === -ERRNO.ENOSPC) throw noSpaceError(n, name, total, "reserve");
  // EACCES and the like: the file is not ours to grow; its creator reserved it (or the writes will say).
}

/** The header copy took a SIGBUS: the file shrank under us, or /dev/shm could not supply the page. */
function faulted(n: NativeShim, fd: number, name: string, mapped: number): HeaderVerdict {
  const now = fstat(n, fd, name).file.size;
  const error = now < mapped
    ? new MemstatsError("TRUNCATED", `segment ${name} shrank to ${now} bytes while it was being opened`, name)
    : noSpaceError(n, name, mapped, "read");
  return { ok: false, wait: false, error };
}

function checkSchema(
  name: string,
  g: Geometry,
  fields: FieldList,
  o: SegmentOptions,
  wanted: FieldList | undefined,
): void {
  if (o.capacity !== undefined && o.capacity !== g.capacity) {
    throw new MemstatsError(
      "SCHEMA",
      `segment ${name} has capacity ${g.capacity}, not ${o.capacity}; open it without capacity, ` +
        `or use another name for a table of ${o.capacity}`,
      name,
    );
  }
  if (wanted === undefined) return;
  const described = (f: FieldList) =>
    f.names.map((x, i) => (f.kinds[i] === "process" ? `${x} (process)` : x));
  const kindsGiven = o.fields!.some((f) => typeof f === "object");
  const same = wanted.names.join(",") === fields.names.join(",") &&
    (!kindsGiven || wanted.kinds.join(",") === fields.kinds.join(","));
  if (!same) {
    throw new MemstatsError(
      "SCHEMA",
      `segment ${name} has fields [${described(fields).join(", ")}], not [${
        described(wanted).join(", ")
      }]; ` +
        `open it without fields, or use another name`,
      name,
    );
  }
}

/** Remove a segment name; live mappings stay valid until unmapped. */
export function unlinkSegment(name: string): boolean {
  validateSegmentName(name);
  const rc = shim().ms_unlink(name);
  if (rc === -ERRNO.ENOENT) return false;
  if (rc < 0) openError(name, rc, "removing");
  return true;
}
