/**
 * A handle on one claimed slot: the hot path. `set(value)` is one plain
 * aligned 8-byte store of the value, a compare (and, when a new high-water
 * mark is reached, a store) for the peak, and a store of the coarse clock.
 * Nothing is allocated and nothing is called.
 *
 * Single-writer rule: only the owning thread writes a slot, so the peak
 * needs no CAS. A single-field store needs no seqlock and no fence: an
 * aligned 8-byte store is single-copy atomic on x86-64 and ARMv8, so a
 * reader sees the old value or the new one, never a mix, and each field
 * stands alone (a reader reports max(value, peak), so a peak that becomes
 * visible after its value, or before, is harmless). A multi-field
 * `update()` is a seqlock write (docs/FORMAT.md, "Writing"): `seq` odd, a
 * release fence, the stores, `seq` even with a release RMW, so a reader sees
 * all of it or none of it.
 *
 * Shape (see BENCHMARKS.md for why): the handle keeps a `Float64Array` over
 * its own slot, so the value and `updatedAt` sit at constant indexes; the
 * value path of `set` returns before the field-name path is seen; and the
 * coarse clock is read through a module-local alias, which the optimising
 * compilers treat as a constant.
 *
 * @module
 */
import { clock } from "./clock.ts";
import { MemstatsError } from "./errors.ts";
import { S } from "./layout.ts";

// Module-local alias of the coarse clock (see the module comment).
const coarse: { now: number } = clock;

// Indexes in a slot's f64 view.
const UPDATED = S.updatedAt / 8;
const VALUE = S.values / 8;

// What a released handle writes to: nothing (typed arrays ignore stores out of bounds).
const RELEASED = new Float64Array(0);

/** Largest value a field holds as an exact integer (2^53 - 1). */
export const MAX_VALUE: number = Number.MAX_SAFE_INTEGER;

/** The calling thread's slot. Obtain one from `registry.registerSlot()`. */
export interface SlotHandle extends Disposable {
  /** Slot index in the table. */
  readonly index: number;
  /** Unique owner id of this claim, never reused. */
  readonly ownerId: number;
  /** Field names, in order. */
  readonly fields: readonly string[];
  /** Whether the slot was released (by `release()`, or by closing its registry). */
  readonly released: boolean;
  /**
   * Set the first field. Values are finite numbers from 0 to 2^53-1 (byte
   * counts are integers; a fraction is kept as given).
   */
  set(value: number): void;
  /** Set field `field`. */
  set(field: string, value: number): void;
  /** Set several fields at once; a reader sees either all of them or none. Fields not named keep their values. */
  update(values: Readonly<Record<string, number>>): void;
  /** The current value of the first field, or of `field`. */
  get(field?: string): number;
  /** The high-water mark of the first field, or of `field`, since registration. */
  peak(field?: string): number;
  /** Give the slot back; later writes throw `CLOSED`. Idempotent. */
  release(): void;
}

function badValue(v: unknown): MemstatsError {
  const got = typeof v === "number"
    ? String(v)
    : typeof v === "string"
    ? `the string ${JSON.stringify(v)}`
    : typeof v;
  return new MemstatsError(
    "INVALID_ARGUMENT",
    `a field value must be a finite number from 0 to 2^53-1, got ${got}`,
  );
}

/** What a handle needs to build itself; all of it comes from the registry's claim. */
export interface SlotParts {
  /** The segment's f64 view. */
  readonly f64: Float64Array;
  /** The segment's u32 view (for the seqlock). */
  readonly u32: Uint32Array;
  /** Byte offset of the slot. */
  readonly offset: number;
  /** Slot index. */
  readonly index: number;
  /** Owner id of the claim. */
  readonly ownerId: number;
  /** Field names. */
  readonly fields: readonly string[];
  /** Field name to index. */
  readonly fieldIndex: ReadonlyMap<string, number>;
  /** The release fence of the shim. */
  readonly fence: () => void;
  /** Called once by `release()`: gives the slot back in the table. */
  readonly onRelease: (handle: Slot) => void;
}

let detach: (s: Slot, last: ArrayLike<number>) => void;

/**
 * Stop a handle writing to the table (its slot was released, or its mapping
 * is going away): `last` (a copy of the slot's first `slotDoubles(fields)`
 * doubles, taken by the registry through the shim's guarded read) answers
 * `get()` and `peak()` from now on, and every later write throws `CLOSED`.
 * Registry use only.
 */
export function detachSlot(s: Slot, last: ArrayLike<number>): void {
  detach(s, last);
}

/** How many doubles of a slot a handle views: up to the last peak. */
export function slotDoubles(fieldCount: number): number {
  return VALUE + 2 * fieldCount;
}

/** The one implementation of {@linkcode SlotHandle}; built by the registry only. */
export class Slot implements SlotHandle {
  static {
    detach = (s, last) => s.#detach(last);
  }

  readonly index: number;
  readonly ownerId: number;
  readonly fields: readonly string[];
  // Fields start with a value of their final type: a field first defined as
  // `undefined` loses its representation and costs checks on every set.
  // f64 view of this slot alone: [UPDATED] updatedAt, [VALUE + k] values, [#peak + k] peaks.
  #slot: Float64Array = RELEASED;
  #peak = 0;
  #u32: Uint32Array;
  #seq: number; // u32 index of the seqlock
  #copy: ArrayLike<number> = RELEASED; // after release: the last values, for get() and peak()
  readonly #fieldIndex: ReadonlyMap<string, number>;
  readonly #fence: () => void;
  #onRelease: ((handle: Slot) => void) | undefined;

  constructor(p: SlotParts) {
    this.#slot = new Float64Array(p.f64.buffer, p.f64.byteOffset + p.offset, slotDoubles(p.fields.length));
    this.#peak = VALUE + p.fields.length;
    this.#u32 = p.u32;
    this.#seq = (p.offset + S.seq) / 4;
    this.index = p.index;
    this.ownerId = p.ownerId;
    this.fields = p.fields;
    this.#fieldIndex = p.fieldIndex;
    this.#fence = p.fence;
    this.#onRelease = p.onRelease;
  }

  set(value: number): void;
  set(field: string, value: number): void;
  set(a: number | string, b?: number): void {
    if (typeof a !== "number") return this.#setNamed(a, b);
    // A literal: an imported constant is a module cell, reloaded and unboxed on every call.
    if (!(a >= 0 && a <= 9007199254740991)) throw badValue(a);
    const s = this.#slot;
    if (s.length === 0) throw this.#releasedError();
    s[VALUE] = a;
    const p = this.#peak;
    if (a > s[p]) s[p] = a;
    s[UPDATED] = coarse.now;
  }

  #setNamed(field: unknown, v: unknown): void {
    if (typeof field !== "string") throw badValue(field);
    if (v === undefined && !this.#fieldIndex.has(field)) throw badValue(field); // set("5"): a value, not a field
    const k = this.#indexOf(field);
    if (typeof v !== "number" || !(v >= 0 && v <= MAX_VALUE)) throw badValue(v);
    const s = this.#slot;
    if (s.length === 0) throw this.#releasedError();
    s[VALUE + k] = v;
    const p = this.#peak + k;
    if (v > s[p]) s[p] = v;
    s[UPDATED] = coarse.now;
  }

  update(values: Readonly<Record<string, number>>): void {
    const keys = Object.keys(values);
    for (const k of keys) {
      this.#indexOf(k);
      const v = values[k];
      if (typeof v !== "number" || !(v >= 0 && v <= MAX_VALUE)) throw badValue(v);
    }
    const s = this.#slot;
    if (s.length === 0) throw this.#releasedError();
    const u = this.#u32;
    // Read the clock before taking the seqlock: a writer descheduled while holding it hides its slot.
    const now = Date.now();
    Atomics.add(u, this.#seq, 1); // odd: write under way
    this.#fence(); // release: the stores below cannot become visible before the odd seq
    for (const k of keys) {
      const i = this.#fieldIndex.get(k)!;
      const v = values[k];
      s[VALUE + i] = v;
      if (v > s[this.#peak + i]) s[this.#peak + i] = v;
    }
    s[UPDATED] = now;
    Atomics.add(u, this.#seq, 1); // even: done (a release RMW: the stores above are visible first)
  }

  get(field?: string): number {
    return this.#view()[VALUE + (field === undefined ? 0 : this.#indexOf(field))];
  }

  peak(field?: string): number {
    return this.#view()[this.#peak + (field === undefined ? 0 : this.#indexOf(field))];
  }

  get released(): boolean {
    return this.#slot.length === 0;
  }

  release(): void {
    const onRelease = this.#onRelease;
    if (onRelease === undefined) return;
    this.#onRelease = undefined;
    onRelease(this);
  }

  [Symbol.dispose](): void {
    this.release();
  }

  #detach(last: ArrayLike<number>): void {
    if (this.#slot.length === 0) return;
    this.#copy = last;
    this.#slot = RELEASED;
    this.#onRelease = undefined;
  }

  #view(): ArrayLike<number> {
    return this.#slot.length === 0 ? this.#copy : this.#slot;
  }

  #releasedError(): MemstatsError {
    return new MemstatsError(
      "CLOSED",
      `slot ${this.index} was released (or its registry closed); register a new slot to keep writing`,
    );
  }

  #indexOf(field: string): number {
    const i = this.#fieldIndex.get(field);
    if (i === undefined) {
      throw new MemstatsError(
        "INVALID_ARGUMENT",
        `unknown field ${JSON.stringify(field)}; this segment has [${this.fields.join(", ")}]`,
      );
    }
    return i;
  }
}
