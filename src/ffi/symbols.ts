/**
 * The one table of the native shim's functions (`native/memstats_shim.c`),
 * in a vocabulary every runtime's FFI can express. Each loader derives its
 * own `dlopen` definitions from it, and {@linkcode NativeFunctions} derives
 * the typed JavaScript signatures, so a call site needs no casts.
 *
 * Types:
 * - `i32`, `u32`, `f64`: numbers. Sizes and addresses are `f64`: exact below
 *   2^53, and they avoid the slow 64-bit integer paths of some FFIs.
 * - `buffer`: a typed array, passed as a pointer to its bytes.
 * - `cstring`: a string, passed as NUL-terminated UTF-8 (the loader encodes it).
 * - `void`: no result.
 *
 * No function takes or returns a native pointer object: mappings travel as
 * addresses in doubles, and each loader turns one into an `ArrayBuffer`.
 *
 * @module
 */

/** A parameter or result type of a native function. */
export type FfiType = "i32" | "u32" | "f64" | "buffer" | "cstring" | "void";

/** One native function: parameter types and result type. */
export interface FfiSignature {
  /** Parameter types, in order. */
  readonly args: readonly Exclude<FfiType, "void">[];
  /** Result type. */
  readonly result: Exclude<FfiType, "buffer" | "cstring">;
}

/** Every function of the shim, by C name. `ms_abi()` must return {@linkcode SHIM_ABI}. */
export const SYMBOLS = {
  ms_abi: { args: [], result: "i32" },
  ms_fence_release: { args: [], result: "void" },
  ms_fence_acquire: { args: [], result: "void" },
  ms_open: { args: ["cstring", "i32", "u32"], result: "i32" },
  ms_fstat: { args: ["i32", "buffer"], result: "i32" },
  ms_ftruncate: { args: ["i32", "f64"], result: "i32" },
  ms_fallocate: { args: ["i32", "f64"], result: "i32" },
  ms_statvfs: { args: ["cstring", "buffer"], result: "i32" },
  ms_fchmod: { args: ["i32", "u32"], result: "i32" },
  ms_map: { args: ["i32", "f64", "i32"], result: "f64" },
  ms_unmap: { args: ["f64", "f64"], result: "i32" },
  ms_close: { args: ["i32"], result: "i32" },
  ms_unlink: { args: ["cstring"], result: "i32" },
  ms_read: { args: ["f64", "f64", "f64", "buffer", "buffer"], result: "i32" },
  ms_scan: { args: ["buffer"], result: "i32" },
  ms_judge_new: { args: ["f64", "f64"], result: "f64" },
  ms_judge_free: { args: ["f64"], result: "void" },
  ms_getpid: { args: [], result: "i32" },
  ms_gettid: { args: [], result: "i32" },
  ms_geteuid: { args: [], result: "u32" },
  ms_thread_exists: { args: ["i32", "i32"], result: "i32" },
  ms_thread_start: { args: ["i32", "i32"], result: "f64" },
  ms_pid_namespace: { args: [], result: "f64" },
  ms_sleep_ms: { args: ["f64"], result: "void" },
  ms_track: { args: ["f64", "f64", "f64"], result: "i32" },
  ms_untrack: { args: ["f64", "f64"], result: "void" },
  ms_release: { args: ["f64", "f64", "f64"], result: "i32" },
  ms_release_all: { args: [], result: "void" },
} as const satisfies Record<string, FfiSignature>;

/** The shim ABI these signatures describe; bumped with every signature change. */
export const SHIM_ABI = 2;

/** The table's type. */
export type Symbols = typeof SYMBOLS;

/** The JavaScript type of a parameter. */
type ArgType<T> = T extends "buffer" ? ArrayBufferView : T extends "cstring" ? string : number;
/** The JavaScript type of a result. */
type ResultType<T> = T extends "void" ? void : number;

/** The JavaScript parameter list of a parameter type list (a tuple maps to a tuple). */
type Args<A extends readonly unknown[]> = { -readonly [K in keyof A]: ArgType<A[K]> };

/** A native function as JavaScript calls it. */
export type NativeFunction<S extends FfiSignature> = (...args: Args<S["args"]>) => ResultType<S["result"]>;

/** Every shim function, typed from {@linkcode SYMBOLS}. */
export type NativeFunctions = { readonly [K in keyof Symbols]: NativeFunction<Symbols[K]> };

const encoder = new TextEncoder();

/** A string as the NUL-terminated UTF-8 a `cstring` parameter passes. */
export function cString(s: string): Uint8Array {
  return encoder.encode(s + "\0");
}

/**
 * How one parameter type reaches a runtime's FFI, when not as it is: the
 * value a call site passes (for a `cstring`, already encoded by
 * {@linkcode cString}) in, what that FFI takes out.
 */
export type ArgConversions = { readonly [T in Exclude<FfiType, "void">]?: (value: never) => unknown };

/**
 * Wrap the raw functions a runtime's `dlopen` returned (where a `cstring`
 * parameter is a byte buffer) into {@linkcode NativeFunctions}: each
 * `cstring` argument is encoded, then every argument whose type `convert`
 * names goes through its conversion. Functions with nothing to convert are
 * used as they are.
 */
export function bindSymbols(
  raw: Record<string, (...args: unknown[]) => unknown>,
  convert: ArgConversions = {},
): NativeFunctions {
  const out: Record<string, unknown> = {};
  for (const [name, sig] of Object.entries(SYMBOLS) as [string, FfiSignature][]) {
    const f = raw[name];
    const steps = sig.args.map((t): ((v: never) => unknown) | undefined => {
      const c = convert[t];
      return t !== "cstring" ? c : c ? (v: string) => c(cString(v) as never) : cString;
    });
    const at = steps.flatMap((step, i) => (step ? [i] : []));
    const only = steps[0];
    out[name] = at.length === 0 ? f : sig.args.length === 1 && only // the common case (ms_scan) without a rest array per call
      ? (v: unknown) => f(only(v as never))
      : (...args: unknown[]) => {
        for (const i of at) args[i] = steps[i]!(args[i] as never);
        return f(...args);
      };
  }
  return out as unknown as NativeFunctions;
}
