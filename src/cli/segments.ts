/**
 * Finding and opening segments for the CLI. Commands that only read attach
 * with `readOnly: true` (`O_RDONLY`, `PROT_READ`): the kernel itself keeps
 * them from writing. Scanning the shared-memory directory reads at most the
 * first 8 bytes of a regular file, opened `O_RDONLY|O_NOFOLLOW|O_NONBLOCK`,
 * before anything is mapped, so other programs' files are never disturbed.
 *
 * @module
 */
import { closeSync, constants, lstatSync, openSync, readdirSync, readSync, type Stats } from "node:fs";
import { defaultSegment, squatted } from "../default.ts";
import { MemstatsError } from "../errors.ts";
import { HEADER_FIXED, MAGIC } from "../layout.ts";
import { SEGMENT_NAME_PATTERN } from "../names.ts";
import { MemoryStatsRegistry } from "../registry.ts";
import { CliError } from "./args.ts";
import { permissionError } from "../ffi/permissions.ts";

/** Where Linux keeps POSIX shared memory: name `/foo` is the file `/dev/shm/foo`. */
export const SHM_DIR = "/dev/shm";

/** `foo` → `/foo`; no argument → the default segment (`$MEMSTATS_SEGMENT` or `/memstats-<uid>`). */
export function segmentName(arg: string | undefined): string {
  if (arg === undefined) return defaultSegment();
  return arg.startsWith("/") ? arg : `/${arg}`;
}

/** The file behind a segment name. */
export function segmentPath(name: string): string {
  return SHM_DIR + name;
}

/**
 * Turn a core error into a one-line CLI error naming the fix. A file that
 * does not start with the magic is never called a segment, and never gets
 * removal advice: it may belong to another program.
 */
export function explain(e: unknown): never {
  if (!(e instanceof MemstatsError)) throw e;
  let msg = e.message;
  if (e.code === "NOT_FOUND") {
    msg = `segment ${e.segment} does not exist; check the name with \`memstats ls\`, ` +
      `or start the program that writes it`;
  }
  // Another user holds the default name: say whose it is and how to choose another.
  if (e.code === "EACCES" && e.segment !== undefined && e.segment === defaultSegment()) {
    msg = squatted(e.segment, e)?.message ?? msg;
  }
  // The core calls a file that could be a header still being written TRUNCATED (FORMAT.md) and
  // advises removing it; without the whole magic, `rm` will not, so neither does this message.
  if (e.code === "TRUNCATED" && e.segment !== undefined) {
    const foreign = notASegment(probeFile(e.segment));
    if (foreign !== undefined) {
      msg = `${e.segment} does not start with the memstats magic (${foreign}): it is not a memstats ` +
        `segment, or one whose creator never wrote its header; check the name with \`memstats ls --all\``;
    }
  }
  throw new CliError(msg, e.code);
}

/** What the file behind a segment name is, judged from `lstat` and its first 8 bytes only. */
export interface FileProbe {
  /** Whether the name exists at all. */
  readonly exists: boolean;
  /** Whether it is a regular file (not a symbolic link, directory, FIFO...). */
  readonly regular: boolean;
  /** Its size in bytes. */
  readonly size: number;
  /** Whether it starts with the 8 magic bytes. */
  readonly magic: boolean;
  /** Why its first bytes could not be read (then `magic` is unknown and false). */
  readonly unreadable?: string;
}

/** Look at the file behind `name` without mapping it, following no symbolic link. */
export function probeFile(name: string): FileProbe {
  const path = segmentPath(name);
  let stat: Stats;
  try {
    stat = lstatSync(path);
  } catch {
    return { exists: false, regular: false, size: 0, magic: false };
  }
  if (!stat.isFile()) return { exists: true, regular: false, size: stat.size, magic: false };
  const problem = magicProblem(path);
  return {
    exists: true,
    regular: true,
    size: stat.size,
    magic: problem === undefined,
    ...(problem?.startsWith("unreadable") ? { unreadable: problem } : {}),
  };
}

/**
 * Why a file is certainly not a memstats segment, or undefined when it may
 * be one. Creators size a segment in one step from empty to its full size,
 * so a non-empty file without the whole magic is never one, whatever its
 * size; an empty file is a segment whose creator has not sized it (yet).
 */
export function notASegment(p: FileProbe): string | undefined {
  if (!p.exists || p.unreadable !== undefined) return undefined;
  if (!p.regular) return "not a regular file";
  if (p.size > 0 && !p.magic) {
    return `${p.size} byte${
      p.size === 1 ? "" : "s"
    } without the memstats magic; it may belong to another program`;
  }
  return undefined;
}

/**
 * Attach read-only, with CLI-worded errors, waiting up to `openTimeoutMs`
 * for a segment whose creator is still writing its header.
 */
export function openReadOnly(name: string, allowForeign: boolean, openTimeoutMs = 1000): MemoryStatsRegistry {
  try {
    return MemoryStatsRegistry.open(name, {
      readOnly: true,
      create: false,
      allowForeignOwner: allowForeign,
      openTimeoutMs,
    });
  } catch (e) {
    explain(e);
  }
}

/** A file in the shared-memory directory that starts with our magic. */
export interface Candidate {
  /** Segment name (`/` + file name). */
  readonly name: string;
  /** `lstat` of the file. */
  readonly stat: Stats;
}

/** Why the file does not start with the magic bytes, or undefined when it does. */
function magicProblem(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    return `unreadable (${(e as { code?: string }).code ?? (e as Error).message})`;
  }
  try {
    const head = new Uint8Array(MAGIC.length);
    const n = readSync(fd, head, 0, head.length, 0);
    return n === head.length && head.every((b, i) => b === MAGIC[i]) ? undefined : "no memstats magic";
  } catch (e) {
    return `unreadable (${(e as { code?: string }).code ?? (e as Error).message})`;
  } finally {
    closeSync(fd);
  }
}

/** What the scan saw in the shared-memory directory. */
export interface Scan {
  /** Files that look like segments, sorted by name. */
  readonly segments: Candidate[];
  /** Everything else, with the reason it was skipped. */
  readonly skipped: { file: string; reason: string }[];
}

/** List the shared-memory directory: segment candidates and skipped files. */
export function scanShm(): Scan {
  let files: string[];
  try {
    files = readdirSync(SHM_DIR).sort();
  } catch (e) {
    const denied = permissionError(e, `listing ${SHM_DIR}`, [
      "-A (Deno lists device directories only with every permission)",
    ]);
    if (denied !== e) throw denied;
    throw new CliError(`cannot list ${SHM_DIR}: ${(e as Error).message}`, "IO");
  }
  const segments: Candidate[] = [];
  const skipped: { file: string; reason: string }[] = [];
  for (const file of files) {
    const name = `/${file}`;
    let stat: Stats;
    try {
      stat = lstatSync(segmentPath(name));
    } catch {
      continue; // removed while we looked
    }
    let reason: string | undefined;
    if (!stat.isFile()) reason = "not a regular file";
    else if (!SEGMENT_NAME_PATTERN.test(name)) reason = "not a valid segment name";
    else if (stat.size < HEADER_FIXED) reason = `too small (${stat.size} bytes)`;
    else reason = magicProblem(segmentPath(name));
    if (reason) skipped.push({ file, reason });
    else segments.push({ name, stat });
  }
  return { segments, skipped };
}
