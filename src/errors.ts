/**
 * The one error class of memstats-shm. Every failure a caller can act on is a
 * `MemstatsError` whose `code` names the problem and whose message says what
 * to do about it. A full table is not an error: `register()` returns `null`.
 *
 * @module
 */

/** Machine-readable reason of a {@linkcode MemstatsError}. */
export type MemstatsErrorCode =
  /** The segment name is not `/` followed by 1-250 of `[A-Za-z0-9._-]`. */
  | "INVALID_NAME"
  /** The segment does not exist and `create` was false. */
  | "NOT_FOUND"
  /** Permission denied, or the segment belongs to another user. */
  | "EACCES"
  /** The file is not a memstats segment (magic bytes, file type). */
  | "BAD_MAGIC"
  /** The segment was written on a machine of the other byte order. */
  | "BYTE_ORDER"
  /** The segment's layout major version is not one this code reads. */
  | "VERSION"
  /** The file is smaller than its header says, or was never initialised. */
  | "TRUNCATED"
  /** Capacity or fields asked for differ from the segment's, or are invalid. */
  | "SCHEMA"
  /** A write through a registry opened with `readOnly: true`. */
  | "READ_ONLY"
  /** The native shim is missing, cannot be built or cannot be loaded. */
  | "SHIM"
  /** The shared-memory file system is full: the segment's memory cannot be reserved or read. */
  | "NO_SPACE"
  /** The runtime refused a permission (Deno without the flag it needs); the message names the flags. */
  | "PERMISSION"
  /** An argument is out of range (a value, a label, a field name, a mode). */
  | "INVALID_ARGUMENT"
  /** The registry was closed. */
  | "CLOSED"
  /** An operating-system call failed for another reason (errno in the message). */
  | "IO";

/**
 * An error with a stable `code`.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry, MemstatsError } from "@memstats/shm";
 * try {
 *   MemoryStatsRegistry.open("/no-such-segment", { create: false });
 * } catch (e) {
 *   if (e instanceof MemstatsError && e.code === "NOT_FOUND") console.log("not running");
 * }
 * ```
 */
export class MemstatsError extends Error {
  /** What went wrong, for programs to branch on. */
  readonly code: MemstatsErrorCode;
  /** The segment name involved, when there is one. */
  readonly segment?: string;

  /** Build an error; prefer the codes over parsing messages. */
  constructor(code: MemstatsErrorCode, message: string, segment?: string) {
    super(message);
    this.name = "MemstatsError";
    this.code = code;
    if (segment !== undefined) this.segment = segment;
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  9: "EBADF",
  14: "EFAULT",
  12: "ENOMEM",
  13: "EACCES",
  17: "EEXIST",
  22: "EINVAL",
  24: "EMFILE",
  27: "EFBIG",
  28: "ENOSPC",
  36: "ENAMETOOLONG",
  40: "ELOOP",
  10001: "not a regular file",
};

/** `-13` → `"EACCES (13)"`, for messages. */
export function errnoName(negErrno: number): string {
  const n = -negErrno;
  return `${ERRNO_NAMES[n] ?? "errno"} (${n})`;
}

/** errno values the shim returns negated. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EACCES: 13,
  /** The shim's guarded read took a SIGBUS: the file shrank, or a page could not be supplied. */
  EFAULT: 14,
  EEXIST: 17,
  EINVAL: 22,
  ENOSPC: 28,
  ELOOP: 40,
  /** The shim's own code: the name exists but is not a regular file. */
  ENOTREG: 10001,
} as const;
