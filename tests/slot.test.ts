/**
 * The slot handle: values and peaks, named and multi-field updates, labels,
 * release, and what a stale handle may do after release or close (nothing).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryStatsRegistry, MemstatsError } from "../mod.ts";
import { cleanup, uniqueName } from "./helpers.ts";

function withRegistry(fields: string[], fn: (r: MemoryStatsRegistry, name: string) => void): void {
  const name = uniqueName("slot");
  const r = MemoryStatsRegistry.open(name, { capacity: 4, fields });
  try {
    fn(r, name);
  } finally {
    r.close();
    cleanup(name);
  }
}

describe("slot handle", () => {
  it("set/get/peak on the first field and on named fields; peaks are high-water marks", () => {
    withRegistry(["heap", "rss"], (r) => {
      const h = r.registerSlot()!;
      h.set(100);
      h.set(50);
      h.set("rss", 7);
      assert.equal(h.get(), 50);
      assert.equal(h.peak(), 100);
      assert.equal(h.get("rss"), 7);
      assert.equal(h.peak("rss"), 7);
      h.set(2 ** 53 - 1);
      assert.equal(h.get("heap"), 2 ** 53 - 1, "exact up to 2^53-1");
      const s = r.slotStats(h.index)!;
      assert.deepEqual(s.values, { heap: 2 ** 53 - 1, rss: 7 });
      assert.deepEqual(s.peaks, { heap: 2 ** 53 - 1, rss: 7 });
      assert.deepEqual(r.aggregateStats().totals, { heap: 2 ** 53 - 1, rss: 7 });
    });
  });

  it("update() sets several fields at once and keeps the others", () => {
    withRegistry(["a", "b", "c"], (r) => {
      const h = r.registerSlot()!;
      h.set("c", 9);
      h.update({ a: 1, b: 2 });
      assert.deepEqual(r.slotStats(h.index)!.values, { a: 1, b: 2, c: 9 });
      h.update({});
      assert.deepEqual(r.slotStats(h.index)!.values, { a: 1, b: 2, c: 9 });
    });
  });

  it("labels: UTF-8 kept whole, cut at a character boundary at 63 bytes, NUL removed", () => {
    withRegistry(["x"], (r) => {
      const long = "é".repeat(40); // 80 bytes
      const h1 = r.registerSlot({ label: long })!;
      const h2 = r.registerSlot({ label: "a\0b 🚀" })!;
      const h3 = r.registerSlot()!;
      assert.equal(r.slotStats(h1.index)!.label, "é".repeat(31)); // 62 bytes; the 32nd would make 64
      assert.equal(r.slotStats(h2.index)!.label, "ab 🚀");
      assert.equal(r.slotStats(h3.index)!.label, "");
    });
  });

  it("registration stamps pid, tid, owner id and times; owner ids grow and are never reused", () => {
    withRegistry(["x"], (r) => {
      const t0 = Date.now();
      const a = r.registerSlot()!;
      const ida = a.ownerId;
      a.release();
      const b = r.registerSlot()!;
      assert.equal(b.index, a.index, "the released slot is reused");
      assert.ok(b.ownerId > ida, "with a new owner id");
      const s = r.slotStats(b.index)!;
      assert.equal(s.threadId, b.ownerId);
      assert.ok(s.tid > 0 && s.pid > 0);
      assert.ok(s.registeredAt >= t0 - 1 && s.registeredAt <= Date.now() + 1);
      assert.ok(s.updatedAt >= s.registeredAt - 200);
    });
  });

  it("release frees the slot; a stale handle writes nowhere and says so (CLOSED)", () => {
    withRegistry(["x"], (r) => {
      const a = r.registerSlot()!;
      a.set(5);
      a.release();
      assert.equal(a.released, true);
      assert.equal(r.aggregateStats().activeThreads, 0);
      const b = r.registerSlot()!;
      assert.equal(b.index, a.index);
      const closed = (e: unknown) =>
        e instanceof MemstatsError && e.code === "CLOSED" && /released/.test(e.message);
      assert.throws(() => a.set(999), closed, "must not land in b's slot, nor be silently dropped");
      assert.throws(() => a.set("x", 999), closed);
      assert.throws(() => a.update({ x: 999 }), closed);
      a.release(); // a second release must not free b's slot
      assert.equal(r.slotStats(b.index)!.arenaBytes, 0);
      assert.equal(r.aggregateStats().activeThreads, 1);
      assert.equal(a.get(), 5, "the stale handle keeps a private copy of its last values");
      assert.equal(a.peak(), 5);
    });
  });

  it("close releases every slot; handles survive the unmap without touching it", () => {
    const name = uniqueName("close");
    const w = MemoryStatsRegistry.open(name, { capacity: 2 });
    const reader = MemoryStatsRegistry.open(name, { readOnly: true });
    try {
      const h = w.registerSlot()!;
      h.set(42);
      assert.equal(reader.aggregateStats().activeThreads, 1);
      w.close();
      w.close(); // idempotent
      assert.equal(reader.aggregateStats().activeThreads, 0);
      // After munmap: a write would crash if it still pointed at the mapping; it throws instead.
      assert.throws(() => h.set(43), (e: unknown) => e instanceof MemstatsError && e.code === "CLOSED");
      assert.equal(h.released, true);
      assert.equal(h.get(), 42);
      assert.throws(
        () => w.updateArena(h.index, 1),
        (e: unknown) => e instanceof MemstatsError && e.code === "CLOSED",
      );
    } finally {
      reader.close();
      cleanup(name);
    }
  });

  it("register() on one thread may claim several slots, as the seed's register() does", () => {
    withRegistry(["x"], (r) => {
      const idx = [r.register(), r.register(), r.register(), r.register()];
      assert.deepEqual([...idx].sort(), [0, 1, 2, 3]);
      idx.forEach((i, k) => r.updateArena(i!, k + 1));
      assert.equal(r.aggregateStats().totalArenaBytes, 10);
      r.release(idx[1]!);
      assert.equal(r.aggregateStats().totalArenaBytes, 8);
    });
  });
});
