/**
 * Readers are bounded and never crash on a hostile or broken table: a slot
 * whose `seq` stays odd (a writer killed inside update(), or a forged one)
 * costs a few retries and is counted as skipped, a whole read has a time
 * budget, and a file truncated under a reader is a TRUNCATED error, never a
 * SIGBUS. (How fast: BENCHMARKS.md, "Readers facing stuck slots".)
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { closeSync, ftruncateSync, openSync, readSync, truncateSync, writeSync } from "node:fs";
import { MemoryStatsRegistry, MemstatsError } from "../mod.ts";
import { geometry, S, slotOffset } from "../src/layout.ts";
import { cleanup, uniqueName } from "./helpers.ts";

/**
 * Make every slot of `reg`'s segment look owned by a live owner (this
 * thread: the identity of a slot it claims) and stuck mid-update (odd seq),
 * writing the file directly, as another process could.
 */
function stickAll(name: string, reg: MemoryStatsRegistry): void {
  const g = geometry(reg.capacity, reg.fields.length);
  const me = reg.registerSlot({ label: "template" })!;
  const template = new Uint8Array(g.slotStride);
  const fd = openSync(`/dev/shm${name}`, "r+");
  try {
    readSync(fd, template, 0, g.slotStride, slotOffset(g, me.index));
    const dv = new DataView(template.buffer);
    dv.setUint32(S.seq, 1, true);
    const batch = 4096;
    const buf = new Uint8Array(g.slotStride * batch);
    for (let i = 0; i < g.capacity; i += batch) {
      const n = Math.min(batch, g.capacity - i);
      for (let k = 0; k < n; k++) {
        dv.setBigUint64(S.owner, BigInt(1_000_000 + i + k), true); // distinct ids, never handed out
        buf.set(template, k * g.slotStride);
      }
      writeSync(fd, buf, 0, n * g.slotStride, slotOffset(g, i));
    }
  } finally {
    closeSync(fd);
  }
}

describe("bounded reads", () => {
  it("every slot stuck mid-update (65,536 of them): reads finish, list nothing, and count them skipped", () => {
    const name = uniqueName("stuck");
    const reg = MemoryStatsRegistry.open(name, { capacity: 65_536 });
    try {
      stickAll(name, reg);
      using reader = MemoryStatsRegistry.open(name, { readOnly: true });
      const agg = reader.aggregateStats();
      assert.deepEqual([agg.activeThreads, agg.deadSlots, agg.skippedSlots], [0, 0, 65_536]);
      assert.equal([...reader.perThreadStats()].length, 0);
      assert.equal(reader.snapshot().skippedSlots, 65_536);
      // The owners are alive (this process), so the census counts them live, and reclaim leaves them.
      assert.deepEqual(reg.ownerCensus(), { live: 65_536, dead: 0 });
      assert.equal(reg.reclaim(), 0);
    } finally {
      reg.close();
      cleanup(name);
    }
  });

  it("a read's time budget: with a budget too small to finish, the slots not reached are counted skipped", () => {
    const name = uniqueName("budget");
    const reg = MemoryStatsRegistry.open(name, { capacity: 65_536 });
    try {
      stickAll(name, reg);
      using reader = MemoryStatsRegistry.open(name, { readOnly: true, readBudgetMs: 0.001 });
      const agg = reader.aggregateStats();
      assert.equal(agg.activeThreads, 0);
      assert.equal(agg.skippedSlots, 65_536, "every slot is accounted for: skipped as stuck or not reached");
      assert.throws(
        () => MemoryStatsRegistry.open(name, { readBudgetMs: 0 }),
        (e: unknown) => e instanceof MemstatsError && e.code === "INVALID_ARGUMENT",
      );
    } finally {
      reg.close();
      cleanup(name);
    }
  });

  it("a file truncated under its readers and writers: every read is TRUNCATED, nothing faults", () => {
    const name = uniqueName("shrink");
    const writer = MemoryStatsRegistry.open(name, { capacity: 256, fields: ["a", "b"] });
    try {
      writer.registerSlot({ label: "w" })!.update({ a: 1, b: 2 });
      const reader = MemoryStatsRegistry.open(name, { readOnly: true });
      assert.equal(reader.aggregateStats().activeThreads, 1);
      truncateSync(`/dev/shm${name}`, 4096); // the header's page stays, every slot page goes
      const truncated = (e: unknown) =>
        e instanceof MemstatsError && e.code === "TRUNCATED" &&
        /truncated while it was being read/.test(e.message);
      for (const r of [reader, writer]) {
        assert.throws(() => r.aggregateStats(), truncated);
        assert.throws(() => [...r.perThreadStats()], truncated);
        assert.throws(() => r.snapshot(), truncated);
        assert.throws(() => r.slotStats(255), truncated); // a slot past the page that stays
        assert.throws(() => r.ownerCensus(), truncated);
      }
      assert.throws(() => writer.reclaim(), truncated);
      reader.close();
      // Truncated to nothing at all: the header's counters fault too.
      const fd = openSync(`/dev/shm${name}`, "r+");
      ftruncateSync(fd, 0);
      closeSync(fd);
      assert.throws(() => writer.overflowCount, truncated);
    } finally {
      writer.close();
      cleanup(name);
    }
  });
});
