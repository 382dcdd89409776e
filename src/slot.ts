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
 * @module
 */
import { clock } from "./clock.ts";
import { MemstatsError } from "./errors.ts";
import { S } from "./layout.ts";

/** Largest value a field holds exactly (2^53 - 1). */
export const MAX_VALUE: number = Number.MAX_SAFE_INTEGER;

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
  #f64: Float64Array;
  #u32: Uint32Array;
  #value: number; // f64 index of field 0's value; peaks follow the values
  #fieldCount: number;
  #updated: number; // f64 index of updatedAt
  #seq: number; // u32 index of the seqlock
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
    this.#f64 = f64;
    this.#u32 = u32;
    this.index = index;
    this.ownerId = ownerId;
    this.fields = fields;
    this.#fieldIndex = fieldIndex;
    this.#fieldCount = fields.length;
    this.#value = (slotByteOffset + S.values) / 8;
    this.#updated = (slotByteOffset + S.updatedAt) / 8;
    this.#seq = (slotByteOffset + S.seq) / 4;
  }

  /** Set the first field, or a named one. Values are integers from 0 to 2^53-1. */
  set(value: number): void;
  /** Set field `field`. */
  set(field: string, value: number): void;
  set(a: number | string, b?: number): void {
    let i = this.#value;
    let v = a as number;
    if (typeof a !== "number") {
      i += this.#indexOf(a);
      v = b as number;
    }
    if (!(v >= 0 && v <= MAX_VALUE)) throw badValue(v);
    const f = this.#f64;
    f[i] = v;
    const p = i + this.#fieldCount;
    if (v > f[p]) f[p] = v;
    f[this.#updated] = clock.now;
  }

  /**
   * Set several fields at once; a reader sees either all of them or none.
   * Fields not named keep their values.
   */
  update(values: Readonly<Record<string, number>>): void {
    const keys = Object.keys(values);
    for (const k of keys) {
      this.#indexOf(k);
      const v = values[k];
      if (!(v >= 0 && v <= MAX_VALUE)) throw badValue(v);
    }
    const f = this.#f64;
    const u = this.#u32;
    Atomics.add(u, this.#seq, 1); // odd: write under way
    for (const k of keys) {
      const i = this.#value + this.#fieldIndex.get(k)!;
      const v = values[k];
      f[i] = v;
      if (v > f[i + this.#fieldCount]) f[i + this.#fieldCount] = v;
    }
    f[this.#updated] = Date.now();
    Atomics.add(u, this.#seq, 1); // even: done
  }

  /** The current value of the first field, or of `field`. */
  get(field?: string): number {
    return this.#f64[this.#value + (field === undefined ? 0 : this.#indexOf(field))];
  }

  /** The high-water mark of the first field, or of `field`, since registration. */
  peak(field?: string): number {
    return this.#f64[this.#value + this.#fieldCount + (field === undefined ? 0 : this.#indexOf(field))];
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
   * points the handle at private memory, so a stale `set` can never write
   * into a slot someone else now owns, or into unmapped memory.
   */
  detach(): void {
    this.#owner = undefined;
    const scratch = new Float64Array(S.values / 8 + 2 * this.#fieldCount);
    scratch.set(this.#f64.subarray(this.#value, this.#value + 2 * this.#fieldCount), S.values / 8);
    this.#f64 = scratch;
    this.#u32 = new Uint32Array(4);
    this.#value = S.values / 8;
    this.#updated = S.updatedAt / 8;
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
