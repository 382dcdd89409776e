/**
 * Liveness evidence: how anyone tells a dead owner from a live one without
 * help from the owner (SIGKILL runs no hooks).
 *
 * A slot records its owner thread as (pid, tid, start time, pid namespace).
 * The start time comes from the kernel (`/proc/<pid>/task/<tid>/stat`, field
 * 22), so a pid or tid reused by another process or thread does not match,
 * and a zombie counts as dead. Pids mean nothing across pid namespaces, so a
 * slot recorded in another namespace is never judged.
 *
 * "Certainly dead" (docs/FORMAT.md): /proc shows the thread gone, a zombie,
 * or started at another time; or, when /proc hides it (hidepid=2, another
 * user's process), the kernel says no such thread exists (`tgkill(pid, tid,
 * 0)` fails with ESRCH). Anything else, a permission error included, proves
 * nothing, and the owner counts as alive.
 *
 * While a claim is in progress the slot holds no evidence yet, so the claim
 * word itself carries a compact form of it (see `claimWord`).
 *
 * @module
 */
import { ERRNO } from "./errors.ts";
import type { NativeShim } from "./ffi/mod.ts";
import { CLAIM_NS_BITS, CLAIM_TID_BITS, CLAIM_TOKEN_BITS, CLAIMING_BIT } from "./layout.ts";

/** Who owns a slot, as recorded in it. */
export interface Evidence {
  /** Process id. */
  readonly pid: number;
  /** Kernel thread id. */
  readonly tid: number;
  /** Thread start time in clock ticks since boot (0: unknown on this OS). */
  readonly token: number;
  /** Inode of the pid namespace (0: unknown). */
  readonly pidNamespace: number;
}

const TID_MASK = (1n << CLAIM_TID_BITS) - 1n;
const TOKEN_MASK = (1n << CLAIM_TOKEN_BITS) - 1n;
const NS_MASK = (1n << CLAIM_NS_BITS) - 1n;

/** Evidence for the calling thread. */
export function currentEvidence(n: NativeShim): Evidence {
  const pid = n.ms_getpid();
  const tid = n.ms_gettid();
  const start = n.ms_thread_start(pid, tid);
  const ns = n.ms_pid_namespace();
  return { pid, tid, token: start > 0 ? start : 0, pidNamespace: ns > 0 ? ns : 0 };
}

/**
 * The word a claimer CASes into a free slot's owner field: bit 63 set, then
 * the low 21 bits of its pid namespace, the low 20 bits of its start time
 * and its 22-bit thread id (Linux pids and tids are below 2^22).
 */
export function claimWord(e: Evidence): bigint {
  return CLAIMING_BIT |
    ((BigInt(e.pidNamespace) & NS_MASK) << (CLAIM_TID_BITS + CLAIM_TOKEN_BITS)) |
    ((BigInt(e.token) & TOKEN_MASK) << CLAIM_TID_BITS) |
    (BigInt(e.tid) & TID_MASK);
}

/** Whether the thread a claim word names is certainly gone. */
export function claimerIsDead(n: NativeShim, word: bigint, ours: Evidence): boolean {
  const ns = Number((word >> (CLAIM_TID_BITS + CLAIM_TOKEN_BITS)) & NS_MASK);
  if (ns !== Number(BigInt(ours.pidNamespace) & NS_MASK)) return false; // cannot judge across namespaces
  const tid = Number(word & TID_MASK);
  const start = n.ms_thread_start(0, tid); // pid 0: the thread, whichever process it belongs to
  if (start < 0) return start === -ERRNO.ESRCH; // gone or zombie; EACCES and the like prove nothing
  if (start === 0) return false; // no start times on this OS
  const token = (word >> CLAIM_TID_BITS) & TOKEN_MASK;
  if (token === 0n) return false; // the claimer did not know its start time: nothing to compare
  return (BigInt(start) & TOKEN_MASK) !== token;
}

/** Whether the thread a slot's evidence names is certainly gone (reads /proc). */
export function ownerIsDead(n: NativeShim, e: Evidence, ours: Evidence): boolean {
  if (e.pidNamespace !== ours.pidNamespace) return false; // cannot judge across namespaces
  const start = n.ms_thread_start(e.pid, e.tid);
  if (start < 0) return start === -ERRNO.ESRCH;
  if (start === 0 || e.token === 0) return false;
  return start !== e.token;
}

/** How long a verdict stands before it is checked again: readers drop a dead owner within 1 s. */
export const RECHECK_MS = 500;
/** Between full checks of a live owner, a cheaper existence check (tgkill) is enough. */
export const FULL_CHECK_MS = 10_000;

/**
 * Verdicts on slot owners, cached per slot and owner id, so that a reader
 * can leave dead owners out of every read at the cost of a table lookup.
 * Owner ids are never reused and the dead never come back: a "dead"
 * verdict stands for as long as the slot keeps that id. A "live" one is
 * checked again after {@linkcode RECHECK_MS}: with `tgkill` (does the
 * thread still exist? about 1 us), and with a full /proc check (is it the
 * same thread, and not a zombie? about 10 us) every {@linkcode FULL_CHECK_MS}.
 * A `fresh` judgement (reclaim, census) always makes the full check.
 */
export class OwnerJudge {
  readonly #native: NativeShim;
  readonly #ours: Evidence;
  // Per slot: the owner id judged, when (ms; -1 means dead), and when fully (ms).
  readonly #id: Float64Array;
  readonly #at: Float64Array;
  readonly #fullAt: Float64Array;
  #deaths = 0;

  constructor(native: NativeShim, capacity: number, ours: Evidence) {
    this.#native = native;
    this.#ours = ours;
    this.#id = new Float64Array(capacity);
    this.#at = new Float64Array(capacity);
    this.#fullAt = new Float64Array(capacity);
  }

  /** Our pid namespace: owners recorded in another are never judged. */
  get namespace(): number {
    return this.#ours.pidNamespace;
  }

  /** How many owners this judge has found dead, ever: a registrant on a full table retries when it grows. */
  get deaths(): number {
    return this.#deaths;
  }

  /**
   * Whether owner `id` of `slot`, recorded as (pid, tid, token, pidNamespace),
   * is alive at time `now` (ms). Allocates nothing while the verdict stands.
   */
  alive(
    slot: number,
    id: number,
    pid: number,
    tid: number,
    token: number,
    pidNamespace: number,
    now: number,
    fresh = false,
  ): boolean {
    const same = this.#id[slot] === id;
    if (same) {
      const at = this.#at[slot];
      if (at < 0) return false;
      if (!fresh && now - at < RECHECK_MS) return true;
    }
    let dead: boolean;
    if (pidNamespace !== this.#ours.pidNamespace) {
      dead = false; // cannot judge across namespaces
    } else if (!fresh && same && now - this.#fullAt[slot] < FULL_CHECK_MS) {
      dead = this.#native.ms_thread_exists(pid, tid) === -ERRNO.ESRCH;
    } else {
      dead = ownerIsDead(this.#native, { pid, tid, token, pidNamespace }, this.#ours);
      this.#fullAt[slot] = now;
    }
    this.#id[slot] = id;
    this.#at[slot] = dead ? -1 : now;
    if (dead) this.#deaths++;
    return !dead;
  }
}
