/**
 * Worker threads: each Worker is its own JS thread with its own slot; the
 * main thread and another process see their values; slots of ended Workers
 * come back by themselves: released by the registry on close, and by the
 * shim's thread-exit hook after terminate(), where no JavaScript runs.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryStatsRegistry } from "../mod.ts";
import {
  Child,
  cleanup,
  EMULATED,
  HERE,
  OTHER,
  startWorker as start,
  threadExists,
  uniqueName,
  waitFor,
} from "./helpers.ts";

// Worker lifetimes in the second test, 4 at a time, through a table of CAPACITY slots. Under
// emulation a Deno Worker takes seconds to start (a new isolate compiling the library), so fewer
// through a smaller table: still twice as many lifetimes as slots.
const LIFETIMES = EMULATED ? 8 : 100;
const CAPACITY = EMULATED ? 4 : 8;

describe(`Workers (${HERE})`, () => {
  it("4 Workers register and update; the main thread and another process read their values", async () => {
    const name = uniqueName("w4");
    const main = MemoryStatsRegistry.open(name, { capacity: 8 });
    const started = await Promise.all([1, 2, 3, 4].map((i) => start(name, i * 1111, `worker-${i}`)));
    const other = new Child(OTHER);
    try {
      assert.ok(started.every((s) => s.a.slot !== null));
      const mine = [...main.perThreadStats()].map((t) => [t.label, t.arenaBytes, t.tid]);
      assert.deepEqual(
        mine.map(([l, v]) => [l, v]).sort(),
        [["worker-1", 1111], ["worker-2", 2222], ["worker-3", 3333], ["worker-4", 4444]],
      );
      assert.deepEqual(new Set(mine.map((m) => m[2])), new Set(started.map((s) => s.a.tid)));
      await other.send({ op: "open", name, options: { readOnly: true } });
      const seen = await other.send<{ aggregate: { activeThreads: number; totalArenaBytes: number } }>({
        op: "stats",
        name,
      });
      assert.equal(seen.aggregate.activeThreads, 4);
      assert.equal(seen.aggregate.totalArenaBytes, 11110);
    } finally {
      for (const { w } of started) w.terminate();
      await other.kill();
      main.close();
      cleanup(name);
    }
  });

  it(`${LIFETIMES} Worker lifetimes pass through capacity ${CAPACITY} without overflow (close and terminate)`, async () => {
    const name = uniqueName("lifetimes");
    const main = MemoryStatsRegistry.open(name, { capacity: CAPACITY });
    let terminated = 0;
    try {
      for (let batch = 0; batch < LIFETIMES / 4; batch++) {
        const started = await Promise.all(
          [0, 1, 2, 3].map((k) => start(name, batch * 4 + k + 1, `b${batch}-${k}`)),
        );
        if (!started.every((s) => s.a.slot !== null)) {
          const table = [...main.perThreadStats()].map((t) =>
            `${t.slot}:${t.label}:${t.tid}:${threadExists(t.tid)}`
          );
          assert.fail(
            `batch ${batch}: a Worker got no slot; census ${JSON.stringify(main.ownerCensus())}; ${
              table.join(" ")
            }`,
          );
        }
        // Half end cleanly (their registry releases), half are terminated (no hook runs at all).
        for (const [k, { w }] of started.entries()) {
          if (k % 2 === 0) w.postMessage("close");
          else {
            w.terminate();
            terminated++;
          }
        }
        // The OS thread outlives terminate() by a few ms; the shim releases its slot as it ends.
        await waitFor(() => started.every((s) => !threadExists(s.a.tid)), 10_000, "Worker threads to exit")
          .catch((e) => {
            throw new Error(
              `${e.message}: ${started.map((s, k) => `${k}:${s.a.tid}:${threadExists(s.a.tid)}`).join(" ")}`,
            );
          });
      }
      const agg = main.aggregateStats();
      assert.equal(agg.overflowCount, 0);
      assert.ok(terminated === LIFETIMES / 2);
      // Nothing was left for anyone to reclaim: every ended Worker gave its slot back.
      assert.equal(main.reclaimedCount, 0, `reclaimed ${main.reclaimedCount}`);
      assert.deepEqual(
        [agg.activeThreads, agg.deadSlots],
        [0, 0],
        "no slot left behind once every Worker is gone",
      );
      assert.equal(main.reclaim(), 0);
    } finally {
      main.close();
      cleanup(name);
    }
  });
});
