/**
 * Validation of everything a caller names: segments, fields and labels.
 * All checks run before any system call.
 *
 * @module
 */
import { MemstatsError } from "./errors.ts";
import { MAX_FIELD_NAME_BYTES, MAX_FIELDS, MAX_LABEL_BYTES } from "./layout.ts";

/** A valid segment name: `/` then 1 to 250 of `[A-Za-z0-9._-]`, not `.` or `..`. */
export const SEGMENT_NAME_PATTERN: RegExp = /^\/[A-Za-z0-9._-]{1,250}$/;
/**
 * A valid field name: Prometheus-compatible, at most 31 bytes, and not
 * `__proto__` (as a key of the `values`, `peaks` and `totals` records it
 * would set their prototype instead, and the field would vanish).
 */
export const FIELD_NAME_PATTERN: RegExp = /^(?!__proto__$)[A-Za-z_][A-Za-z0-9_]{0,30}$/;

/**
 * Throws `INVALID_NAME` unless `name` is a valid segment name.
 *
 * @example
 * ```ts
 * import { validateSegmentName } from "./names.ts";
 * validateSegmentName("/memstats-demo"); // ok
 * ```
 */
export function validateSegmentName(name: unknown): asserts name is string {
  if (typeof name !== "string") {
    throw new MemstatsError("INVALID_NAME", `segment name must be a string, got ${typeof name}`);
  }
  if (SEGMENT_NAME_PATTERN.test(name) && name !== "/." && name !== "/..") return;
  let why = "it must be '/' followed by 1 to 250 of A-Z a-z 0-9 . _ -";
  if (!name.startsWith("/")) why = `it must start with '/' (try "/${name}")`;
  else if (name.length > 251) why = `it is ${name.length - 1} characters after '/', the limit is 250`;
  else if (name === "/") why = "it is empty after '/'";
  else if (name.indexOf("/", 1) !== -1) why = "it must not contain '/' after the first character";
  else if (name === "/." || name === "/..") why = "'.' and '..' name directories";
  throw new MemstatsError("INVALID_NAME", `invalid segment name ${JSON.stringify(name)}: ${why}`, name);
}

/**
 * How a field's totals are counted: `"thread"` figures are summed over
 * slots; a `"process"` figure describes a whole process (every thread of it
 * reports the same, like the resident set size), so totals count each
 * process once.
 */
export type FieldKind = "thread" | "process";

/**
 * A field when creating a segment: its name (a per-thread figure), or its
 * name and kind.
 *
 * @example
 * ```ts
 * import { type FieldSpec, MemoryStatsRegistry } from "@memstats/shm";
 * const fields: FieldSpec[] = ["arena_bytes", { name: "rss_bytes", kind: "process" }];
 * MemoryStatsRegistry.open("/memstats-app", { fields }).close();
 * ```
 */
export type FieldSpec = string | { readonly name: string; readonly kind: FieldKind };

/** Field names and kinds, in slot order. */
export interface FieldList {
  /** Names. */
  readonly names: readonly string[];
  /** Kinds, one per name. */
  readonly kinds: readonly FieldKind[];
}

/** Throws `SCHEMA` unless `fields` is 1 to 32 valid, unique field specs; returns names and kinds. */
export function validateFields(fields: unknown): FieldList {
  if (!Array.isArray(fields) || fields.length === 0 || fields.length > MAX_FIELDS) {
    throw new MemstatsError("SCHEMA", `fields must be an array of 1 to ${MAX_FIELDS} names`);
  }
  const seen = new Set<string>();
  const kinds: FieldKind[] = [];
  for (const spec of fields) {
    const f = typeof spec === "object" && spec !== null ? (spec as { name?: unknown }).name : spec;
    const kind = typeof spec === "object" && spec !== null ? (spec as { kind?: unknown }).kind : "thread";
    if (kind !== "thread" && kind !== "process") {
      throw new MemstatsError(
        "SCHEMA",
        `field ${JSON.stringify(f)} has kind ${JSON.stringify(kind)}; use "thread" or "process"`,
      );
    }
    kinds.push(kind);
    if (typeof f !== "string" || !FIELD_NAME_PATTERN.test(f)) {
      throw new MemstatsError(
        "SCHEMA",
        `invalid field name ${
          JSON.stringify(f)
        }: use [A-Za-z_][A-Za-z0-9_]*, at most ${MAX_FIELD_NAME_BYTES} characters, not __proto__`,
      );
    }
    if (seen.has(f)) throw new MemstatsError("SCHEMA", `field ${JSON.stringify(f)} is listed twice`);
    seen.add(f);
  }
  return { names: [...seen], kinds };
}

const encoder = new TextEncoder();
const NO_LABEL = new Uint8Array(0); // a typed-array allocation costs 0.3-0.5 us in Deno

/**
 * A label as stored: UTF-8 without NUL bytes, cut at a character boundary to
 * at most 63 bytes.
 */
export function encodeLabel(label: unknown): Uint8Array {
  if (label === undefined) return NO_LABEL;
  if (typeof label !== "string") {
    throw new MemstatsError("INVALID_ARGUMENT", `label must be a string, got ${typeof label}`);
  }
  const out = new Uint8Array(MAX_LABEL_BYTES);
  const { written } = encoder.encodeInto(label.replaceAll("\0", ""), out); // whole characters only
  return out.subarray(0, written);
}

/** The default segment name for a user id: `/memstats-<uid>`. */
export function defaultSegmentName(uid: number): string {
  return `/memstats-${uid}`;
}
