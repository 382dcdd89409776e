/**
 * Opening a native library (or the C source TinyCC compiles) so that what is
 * loaded is exactly what was checked. A library is code: one another user
 * can write, or swap in after our check, runs with our rights.
 *
 * - The file is opened with `O_NOFOLLOW` (a symbolic link at its name is
 *   refused), and the checks run on the open descriptor (`fstat`): a regular
 *   file, owned by root or by us, not writable by group or others.
 * - It is loaded through `/proc/self/fd/N`, which names that descriptor's
 *   inode, so swapping the name after the check changes nothing.
 * - The per-user cache directory is created `0700` (`mkdir` fails when the
 *   name exists: no one else's directory is ever adopted) and checked with
 *   `lstat`: a real directory, ours, not writable by others. In a sticky
 *   world-writable `$TMPDIR` another user can create that name first: the
 *   error names that user's uid and what to do.
 *
 * @module
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  type Stats,
} from "node:fs";
import process from "node:process";
import { MemstatsError } from "../errors.ts";

/** Our uid, or undefined where there is none (Windows). Deno needs `--allow-sys=uid`. */
export function ourUid(): number | undefined {
  return typeof process.geteuid === "function" ? process.geteuid() : undefined;
}

/** An open, checked file and the path that loads exactly it. */
export interface TrustedFile {
  /** The path that was opened, for messages. */
  readonly path: string;
  /** The path to hand to `dlopen` (or TinyCC): `/proc/self/fd/N` on Linux. */
  readonly loadPath: string;
  /** The open descriptor. */
  readonly fd: number;
  /** The file's bytes, read from the descriptor. */
  bytes(): Uint8Array;
  /** Close the descriptor (after loading: the loaded library keeps its own mapping). */
  close(): void;
}

function fail(message: string): never {
  throw new MemstatsError("SHIM", message);
}

/** Whether `uid` may own code we run: root, or us. */
function trustedOwner(uid: number): boolean {
  return uid === 0 || uid === ourUid();
}

/**
 * Open `path` without following a symbolic link at its name and check the
 * descriptor: a regular file owned by root or by us, not writable by group
 * or others. `what` names it in errors; `fix` says what to do.
 */
export function openTrusted(path: string, what: string, fix: string): TrustedFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ELOOP") fail(`${what} ${path} is a symbolic link, refused: a link can be swapped; ${fix}`);
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) fail(`${what} ${path} is not a regular file; ${fix}`);
    if (!trustedOwner(st.uid)) {
      fail(
        `${what} ${path} belongs to uid ${st.uid}, neither root nor you (uid ${ourUid()}): ` +
          `code another user controls is never loaded; ${fix}`,
      );
    }
    if ((st.mode & 0o022) !== 0) {
      fail(
        `${what} ${path} is writable by other users (mode ${(st.mode & 0o777).toString(8)}), refused; ` +
          `run chmod go-w on it, or ${fix}`,
      );
    }
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  const loadPath = process.platform === "linux" ? `/proc/self/fd/${fd}` : path;
  return {
    path,
    loadPath,
    fd,
    bytes: () => readFileSync(fd),
    close: () => closeSync(fd),
  };
}

/**
 * Make sure `dir` is a private directory of ours: create it `0700` if
 * missing (its parent too when `parents`), then `lstat` it. Refuses a
 * symbolic link, another user's directory (naming the uid) and a directory
 * others can write. `fix` says what to do instead.
 */
export function ensurePrivateDir(dir: string, parents: boolean, fix: string): void {
  let st: Stats | undefined;
  try {
    st = lstatSync(dir); // present: nothing to create (and under Deno no write permission needed)
  } catch (e) {
    if ((e as { code?: string }).code !== "ENOENT") throw e;
  }
  if (st === undefined) {
    try {
      mkdirSync(dir, { recursive: parents, mode: 0o700 });
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") {
        if (e instanceof Error && (e as { code?: string }).code !== undefined) {
          fail(`cannot create the shim cache directory ${dir} (${e.message}); ${fix}`);
        }
        throw e;
      }
    }
    st = lstatSync(dir);
  }
  if (st.isSymbolicLink()) fail(`the shim cache directory ${dir} is a symbolic link, refused; ${fix}`);
  if (!st.isDirectory()) fail(`the shim cache directory ${dir} exists and is not a directory; ${fix}`);
  const uid = ourUid();
  if (uid !== undefined && st.uid !== uid) {
    fail(
      `the shim cache directory ${dir} belongs to uid ${st.uid}, not to you (uid ${uid}): another user ` +
        `created it first; ask that user or root to remove it, or ${fix}`,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    fail(
      `the shim cache directory ${dir} is writable by other users (mode ${(st.mode & 0o777).toString(8)}), ` +
        `refused; run chmod go-w on it, or ${fix}`,
    );
  }
}
