/**
 * A handle on one claimed slot: the hot path. `set(value)` is one plain
 * aligned 8-byte store of the value, a compare (and, when a new high-water
 * mark is reached, a store) for the peak, and a store of the coarse clock.
 * Nothing is allocated and nothing is called.
 *
 * Single-writer rule: only the owning thread writes a slot, so the peak needs
 * no CAS, and a single-field store needs no seqlock (an aligned 8-byte store
 * is never torn). Multi-field `update()` is bracketed by the slot's seqlock
 * so readers see all of it or none of it.
 *
 * Why it is shaped this way (V8 in Deno; JSC in Bun is fast either way, see
 * `BENCHMARKS.md`): the handle keeps a `Float64Array` over its own slot, so
 * the value and `updatedAt` sit at constant indexes and the optimised code
 * loads one field instead of three; the value path of the `set` overload
 * returns before the field-name path is seen; and the coarse clock is read
 * through a module-local alias, which TurboFan treats as a constant, where an
 * imported binding is reloaded and hole-checked on every call. Together they
 * took `set` from about 6 ns to about 3 ns in Deno.
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

// Typed initial values of the view fields (see the class).
const NO_SLOT = new Float64Array(0);
const NO_SEQ = new Uint32Array(0);

// A released handle's private memory. Allocating a typed array costs about
// 0.5 us in Deno (every backing store is off-heap there), a view of an
// existing buffer about 20 ns, so released handles take their private copy of
// the slot from a shared pool, and their seqlock word is one shared scratch
// word that nobody reads. A pool is freed with the last handle viewing it.
const POOL_BYTES = 16384;
let pool = new ArrayBuffer(POOL_BYTES);
let poolUsed = 0;
const PRIVATE_SEQ = new Uint32Array(1);

function privateCopy(src: Float64Array): Float64Array {
  if (poolUsed + src.byteLength > pool.byteLength) {
    pool = new ArrayBuffer(Math.max(POOL_BYTES, src.byteLength));
    poolUsed = 0;
  }
  const copy = new Float64Array(pool, poolUsed, src.length);
  poolUsed += src.byteLength;
  copy.set(src);
  return copy;
}

/** Largest value a field holds exactly (2^53 - 1). */
export const MAX_VALUE: number = Number.MAX_SAFE_INTEGER;

/** Throws unless `v` is a number a field can hold (the off-hot-path check; `set(value)` inlines it). */
function checkValue(v: unknown): asserts v is number {
  if (typeof v !== "number" || !(v >= 0 && v <= MAX_VALUE)) throw badValue(v);
}

function badValue(v: unknown): MemstatsError {
  return new MemstatsError(
    "INVALID_ARGUMENT",
    `a field value must be a number from 0 to 2^53-1, got ${typeof v === "number" ? v : typeof v}`,
  );
}

/** What a handle needs from its registry; kept narrow so the handle stays small. */
export interface SlotOwner {
  /** Release slot `index` if this owner still holds it. */
  releaseSlot(index: number): void;
}

/**
 * The calling thread's slot. Obtain one from `registry.registerSlot()`.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry } from "@memstats/shm";
 * const reg = MemoryStatsRegistry.open("/memstats-example", { fields: ["heap", "rss"] });
 * const slot = reg.registerSlot({ label: "worker-1" })!;
 * slot.set(1024);              // first field
 * slot.set("rss", 4096);       // a named field
 * slot.update({ heap: 1, rss: 2 }); // both at once, atomically for readers
 * slot.release();
 * reg.close();
 * MemoryStatsRegistry.unlink("/memstats-example");
 * ```
 */
export class SlotHandle {
  /** Slot index in the table. */
  readonly index: number;
  /** Unique owner id of this claim (the seed's thread id). */
  readonly ownerId: number;
  /** Field names, in order. */
  readonly fields: readonly string[];
  // Fields start with a value of their final type: a field first defined as
  // `undefined` loses its Smi or map representation and costs checks on every set.
  // f64 view of this slot alone: [UPDATED] updatedAt, [VALUE + k] values, [#peak + k] peaks.
  #slot: Float64Array = NO_SLOT;
  #peak = 0;
  #u32: Uint32Array = NO_SEQ;
  #seq = 0; // u32 index of the seqlock
  #owner: SlotOwner | undefined;
  readonly #fieldIndex: ReadonlyMap<string, number>;

  /** Created by the registry on a successful claim. */
  constructor(
    owner: SlotOwner,
    f64: Float64Array,
    u32: Uint32Array,
    slotByteOffset: number,
    index: number,
    ownerId: number,
    fields: readonly string[],
    fieldIndex: ReadonlyMap<string, number>,
  ) {
    this.#owner = owner;
    this.#slot = new Float64Array(f64.buffer, f64.byteOffset + slotByteOffset, VALUE + 2 * fields.length);
    this.#peak = VALUE + fields.length;
    this.#u32 = u32;
    this.#seq = (slotByteOffset + S.seq) / 4;
    this.index = index;
    this.ownerId = ownerId;
    this.fields = fields;
    this.#fieldIndex = fieldIndex;
  }

  /** Set the first field, or a named one. Values are integers from 0 to 2^53-1. */
  set(value: number): void;
  /** Set field `field`. */
  set(field: string, value: number): void;
  set(a: number | string, b?: number): void {
    if (typeof a !== "number") return this.#setNamed(a, b);
    // A literal: the exported MAX_VALUE is a module cell, reloaded and unboxed on every call.
    if (!(a >= 0 && a <= 9007199254740991)) throw badValue(a);
    const s = this.#slot;
    s[VALUE] = a;
    const p = this.#peak;
    if (a > s[p]) s[p] = a;
    s[UPDATED] = coarse.now;
  }

  #setNamed(field: unknown, v: unknown): void {
    if (typeof field !== "string") throw badValue(field);
    const k = this.#indexOf(field);
    checkValue(v);
    const s = this.#slot;
    s[VALUE + k] = v;
    const p = this.#peak + k;
    if (v > s[p]) s[p] = v;
    s[UPDATED] = coarse.now;
  }

  /**
   * Set several fields at once; a reader sees either all of them or none.
   * Fields not named keep their values.
   */
  update(values: Readonly<Record<string, number>>): void {
    const keys = Object.keys(values);
    for (const k of keys) {
      this.#indexOf(k);
      checkValue(values[k]);
    }
    const s = this.#slot;
    const u = this.#u32;
    // Read the clock before taking the seqlock: a writer descheduled while holding
    // it hides its slot from readers (the soak test measured 59% -> 93% of slots seen).
    const now = Date.now();
    Atomics.add(u, this.#seq, 1); // odd: write under way
    for (const k of keys) {
      const i = this.#fieldIndex.get(k)!;
      const v = values[k];
      s[VALUE + i] = v;
      if (v > s[this.#peak + i]) s[this.#peak + i] = v;
    }
    s[UPDATED] = now;
    Atomics.add(u, this.#seq, 1); // even: done
  }

  /** The current value of the first field, or of `field`. */
  get(field?: string): number {
    return this.#slot[VALUE + (field === undefined ? 0 : this.#indexOf(field))];
  }

  /** The high-water mark of the first field, or of `field`, since registration. */
  peak(field?: string): number {
    return this.#slot[this.#peak + (field === undefined ? 0 : this.#indexOf(field))];
  }

  /** Whether {@linkcode SlotHandle.release} has run (or the registry closed). */
  get released(): boolean {
    return this.#owner === undefined;
  }

  /** Give the slot back; later `set` calls do nothing. */
  release(): void {
    const owner = this.#owner;
    if (owner) owner.releaseSlot(this.index);
  }

  /**
   * Called by the registry when the slot is released or the mapping goes away:
   * points the handle at a private copy of its slot, so a stale `set` can
   * never write into a slot someone else now owns, or into unmapped memory.
   */
  detach(): void {
    this.#owner = undefined;
    this.#slot = privateCopy(this.#slot); // same layout, private memory
    this.#u32 = PRIVATE_SEQ;
    this.#seq = 0;
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
