/**
 * Liveness evidence, the writer's side: what a claimer records about itself
 * so that anyone can later tell a dead owner from a live one without its
 * help (SIGKILL runs no hooks).
 *
 * A slot records its owner thread as (pid, tid, start time, pid namespace).
 * The start time comes from the kernel (`/proc/<pid>/task/<tid>/stat`, field
 * 22), so a pid or tid reused by another process or thread does not match,
 * and a zombie counts as dead. While a claim is in progress the slot holds
 * no evidence yet, so the claim word itself carries a compact form of it.
 *
 * The judging is done by the shim as it reads (`ms_scan`; docs/FORMAT.md,
 * "Who is alive"): "certainly dead" means /proc shows the thread gone, a
 * zombie, or started at another time; or, when /proc hides it (hidepid=2,
 * another user's process), the kernel says no such thread exists
 * (`tgkill(pid, tid, 0)` fails with ESRCH). Anything else, a permission
 * error included, proves nothing, and the owner counts as alive. Pids mean
 * nothing across pid namespaces, so a slot recorded in another is never
 * judged.
 *
 * @module
 */
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
