/**
 * The seed's seven tests (memory_stats.rs), ported to this API with real
 * assertions. Where the seed could not check something (its overflow test
 * never overflows), these do.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import {
  getOrRegisterSlot,
  memoryRegistry,
  MemoryStatsRegistry,
  type ThreadMemoryStats,
  updateArenaStats,
} from "../mod.ts";
import { cleanup, startWorker, uniqueName } from "./helpers.ts";

describe("seed parity", () => {
  const defaultName = uniqueName("default");
  const previous = process.env.MEMSTATS_SEGMENT;
  before(() => {
    process.env.MEMSTATS_SEGMENT = defaultName;
  });
  after(() => {
    memoryRegistry().close();
    cleanup(defaultName);
    // Other files run in this process under bun test: leave the environment as it was.
    if (previous === undefined) delete process.env.MEMSTATS_SEGMENT;
    else process.env.MEMSTATS_SEGMENT = previous;
  });

  it("test_registry_basic: register, update, aggregate", () => {
    const name = uniqueName("basic");
    const registry = MemoryStatsRegistry.open(name, { capacity: 4 });
    try {
      const idx = registry.register();
      assert.notEqual(idx, null);
      registry.updateArena(idx!, 1024);
      const stats = registry.aggregateStats();
      assert.equal(stats.activeThreads, 1);
      assert.equal(stats.totalArenaBytes, 1024);
      assert.equal(stats.overflowCount, 0);
      assert.deepEqual(stats.totals, { arena_bytes: 1024 });
    } finally {
      registry.close();
      cleanup(name);
    }
  });

  it("test_registry_overflow: a full table returns null and counts every refusal", () => {
    const name = uniqueName("overflow");
    const registry = MemoryStatsRegistry.open(name, { capacity: 2 });
    try {
      assert.notEqual(registry.register(), null);
      assert.notEqual(registry.register(), null);
      assert.equal(registry.register(), null);
      assert.equal(registry.overflowCount, 1);
      assert.equal(registry.register(), null);
      assert.equal(registry.overflowCount, 2);
      assert.equal(registry.aggregateStats().overflowCount, 2);
      assert.equal(registry.aggregateStats().activeThreads, 2);
      assert.equal(registry.capacity, 2);
    } finally {
      registry.close();
      cleanup(name);
    }
  });

  it("test_thread_local_slot: getOrRegisterSlot registers once and caches", () => {
    const slot1 = getOrRegisterSlot();
    const slot2 = getOrRegisterSlot();
    assert.notEqual(slot1, null);
    assert.equal(slot1, slot2);
    assert.equal(memoryRegistry().name, defaultName);
    assert.equal(memoryRegistry().aggregateStats().activeThreads, 1);
  });

  it("test_update_helpers: updateArenaStats reaches the aggregate exactly", () => {
    assert.notEqual(getOrRegisterSlot(), null);
    updateArenaStats(2048);
    assert.equal(memoryRegistry().aggregateStats().totalArenaBytes, 2048);
    updateArenaStats(4096);
    assert.equal(memoryRegistry().aggregateStats().totalArenaBytes, 4096);
  });

  it("test_per_thread_stats: our value is found under our slot, pid and owner id", () => {
    const slot = getOrRegisterSlot()!;
    const unique = 999_777_555;
    updateArenaStats(unique);
    const ours = [...memoryRegistry().perThreadStats()].filter((s) => s.arenaBytes === unique);
    assert.equal(ours.length, 1);
    assert.equal(ours[0].slot, slot);
    assert.equal(ours[0].pid, process.pid);
    assert.ok(ours[0].threadId >= 1);
    assert.equal(ours[0].peaks.arena_bytes, unique);
  });

  it("test_concurrent_registration: 4 Workers register and their totals are exact", async () => {
    const name = uniqueName("conc");
    const main = MemoryStatsRegistry.open(name, { capacity: 8 });
    const started = await Promise.all([0, 1, 2, 3].map((i) => startWorker(name, 1000 * (i + 1), `w${i}`)));
    try {
      assert.equal(started.filter((s) => s.a.slot !== null).length, 4);
      const stats = main.aggregateStats();
      assert.equal(stats.activeThreads, 4);
      assert.equal(stats.totalArenaBytes, 1000 + 2000 + 3000 + 4000);
      const labels = [...main.perThreadStats()].map((s: ThreadMemoryStats) => s.label).sort();
      assert.deepEqual(labels, ["w0", "w1", "w2", "w3"]);
    } finally {
      for (const { w } of started) w.terminate();
      main.close();
      cleanup(name);
    }
  });

  it("test_thread_ids_are_unique: 8 Workers get 8 distinct ids and 8 distinct OS threads", async () => {
    const name = uniqueName("ids");
    const main = MemoryStatsRegistry.open(name, { capacity: 16 });
    const started = await Promise.all([...Array(8).keys()].map((i) => startWorker(name, i + 1, `w${i}`)));
    try {
      const ids = new Set(started.map((s) => s.a.threadId));
      const tids = new Set(started.map((s) => s.a.tid));
      assert.equal(ids.size, 8);
      assert.equal(tids.size, 8);
      assert.ok(![...ids].includes(null));
      assert.ok(!tids.has(process.pid), "Workers run on their own OS threads");
    } finally {
      for (const { w } of started) w.terminate();
      main.close();
      cleanup(name);
    }
  });
});
