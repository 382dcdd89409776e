/**
 * The one interface between the runtime-free core and native code: the
 * shim's functions, typed from `symbols.ts`, plus a way to see a mapping
 * as an `ArrayBuffer`. One loader per runtime implements it.
 *
 * @module
 */
import type { NativeFunctions } from "./symbols.ts";

/** How `ms_open` opens a name. */
export const OpenKind = {
  /** Attach read-write; fails with ENOENT when missing. */
  attach: 0,
  /** Attach read-only (`O_RDONLY`, later mapped `PROT_READ`). */
  attachReadOnly: 1,
  /** Create exclusively (`O_CREAT|O_EXCL`); fails with EEXIST when present. */
  createExclusive: 2,
} as const;
/** One of the {@linkcode OpenKind} values. */
export type OpenKind = typeof OpenKind[keyof typeof OpenKind];

/** The loaded shim: every native function, plus views of mapped memory. */
export interface NativeShim extends NativeFunctions {
  /** Absolute path of the loaded library. */
  readonly path: string;
  /**
   * An `ArrayBuffer` over `length` bytes at `address` (from `ms_map`). The
   * memory is borrowed: valid until `ms_unmap`, never freed by the GC, so
   * every view over it must be dropped before the mapping is.
   */
  arrayBuffer(address: number, length: number): ArrayBuffer;
}
