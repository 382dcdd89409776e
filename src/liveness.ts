/**
 * Liveness evidence: how a reclaimer tells a dead owner from a live one
 * without any help from the owner (SIGKILL runs no hooks).
 *
 * A slot records its owner thread as (pid, tid, start time, pid namespace).
 * The start time comes from the kernel (`/proc/<pid>/task/<tid>/stat`, field
 * 22), so a pid or tid number reused by another process or thread does not
 * match, and a zombie counts as dead. Pids mean nothing across pid
 * namespaces, so a slot recorded in another namespace is never judged.
 *
 * While a claim is in progress the slot holds no evidence yet, so the claim
 * word itself carries a compact form of it (see `claimWord`).
 *
 * @module
 */
import { CLAIM_NS_BITS, CLAIM_TID_BITS, CLAIM_TOKEN_BITS, CLAIMING_BIT } from "./layout.ts";
import type { Shim } from "./ffi/mod.ts";

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
export function currentEvidence(shim: Shim): Evidence {
  const pid = shim.pid();
  const tid = shim.tid();
  const start = shim.threadStart(pid, tid);
  const ns = shim.pidNamespace();
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
export function claimerIsDead(shim: Shim, word: bigint, ours: Evidence): boolean {
  const ns = Number((word >> (CLAIM_TID_BITS + CLAIM_TOKEN_BITS)) & NS_MASK);
  if (ns !== Number(BigInt(ours.pidNamespace) & NS_MASK)) return false; // cannot judge across namespaces
  const tid = Number(word & TID_MASK);
  const start = shim.threadStart(tid, tid); // /proc/<tid>/task/<tid> resolves any thread
  if (start < 0) return start === -3; // ESRCH: gone or zombie
  if (start === 0) return false; // no start times on this OS
  return (BigInt(start) & TOKEN_MASK) !== ((word >> CLAIM_TID_BITS) & TOKEN_MASK);
}

/** Whether the thread a slot's evidence names is certainly gone. */
export function ownerIsDead(shim: Shim, e: Evidence, ours: Evidence): boolean {
  if (e.pidNamespace !== ours.pidNamespace) return false; // cannot judge across namespaces
  const start = shim.threadStart(e.pid, e.tid);
  if (start < 0) return start === -3; // ESRCH; EACCES and the like prove nothing
  if (start === 0 || e.token === 0) return false;
  return start !== e.token;
}
