/**
 * Dead owners are never counted. The ways a server ends: `process.exit()` or
 * `Deno.exit()` while Workers run, `worker.terminate()`, a Worker's
 * `self.close()`, and SIGKILL. The first three give their slots back (the
 * shim releases a thread's slots when the thread ends, and all of a
 * process's at exit, where no JavaScript runs); after SIGKILL, every reader
 * leaves the dead rows out of rows and totals within a second and counts
 * them as dead until someone reclaims them.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { MemoryStatsRegistry } from "../mod.ts";
import { takeSnapshot } from "../src/report.ts";
import { Child, CHILD_RUNTIMES, cleanup, uniqueName, waitFor } from "./helpers.ts";
import { slots } from "./fixtures/raw.ts";
import { cli } from "./fixtures/proc.ts";

/** Owner words of every slot, straight from the file. */
function owners(name: string): bigint[] {
  return slots(new Uint8Array(readFileSync(`/dev/shm${name}`))).map((s) => s.owner);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("dead owners", () => {
  for (const rt of CHILD_RUNTIMES) {
    it(`${rt}: exiting with Workers still running gives back every slot of the process`, async () => {
      const name = uniqueName(`exit-${rt}`);
      const reader = MemoryStatsRegistry.open(name, { capacity: 8 });
      const child = new Child(rt);
      try {
        await child.send({ op: "open", name });
        await child.send({ op: "register", name, label: "main" });
        await child.send({ op: "worker", name, value: 1, label: "w1" });
        await child.send({ op: "worker", name, value: 2, label: "w2" });
        assert.equal(reader.aggregateStats().activeThreads, 3);
        child.proc.stdin!.write(JSON.stringify({ op: "runtime-exit" }) + "\n"); // no answer: it exits
        assert.deepEqual(await child.exited, { code: 0, signal: null });
        assert.deepEqual(owners(name), Array(8).fill(0n), "released in the table, not only hidden");
        const agg = reader.aggregateStats();
        assert.deepEqual([agg.activeThreads, agg.deadSlots, agg.totalArenaBytes], [0, 0, 0]);
      } finally {
        await child.kill();
        reader.close();
        cleanup(name);
      }
    });

    for (const [how, op] of [["terminate()", "worker-terminate"], ["self.close()", "worker-post"]] as const) {
      it(`${rt}: a Worker ended by ${how} gives its slot back when its thread ends`, async () => {
        const name = uniqueName(`wend-${rt}`);
        const reader = MemoryStatsRegistry.open(name, { capacity: 4, readOnly: false });
        const child = new Child(rt);
        try {
          await child.send({ op: "open", name });
          await child.send({ op: "register", name, label: "main" });
          const w = await child.send<{ index: number; slot: number }>({
            op: "worker",
            name,
            value: 5,
            label: "w",
          });
          assert.equal(reader.aggregateStats().activeThreads, 2);
          // "exit": the Worker calls self.close() without closing its registry (tests/fixtures/worker.ts).
          await child.send({ op, index: w.index, message: "exit" });
          await waitFor(() => owners(name)[w.slot] === 0n, 10_000, `the ${how} Worker's slot to be released`);
          const agg = reader.aggregateStats();
          assert.deepEqual([agg.activeThreads, agg.deadSlots, agg.totalArenaBytes], [1, 0, 0]);
          assert.equal(reader.reclaimedCount, 0, "nothing was left to reclaim");
        } finally {
          await child.kill();
          reader.close();
          cleanup(name);
        }
      });
    }

    it(`${rt}: after kill -9, readers leave the process's rows out within 1 s and count them dead`, async () => {
      const name = uniqueName(`kill9-${rt}`);
      const writer = MemoryStatsRegistry.open(name, { capacity: 8 });
      const reader = MemoryStatsRegistry.open(name, { readOnly: true });
      const child = new Child(rt);
      try {
        await child.send({ op: "open", name });
        const { slot } = await child.send<{ slot: number }>({ op: "register", name, label: "main" });
        await child.send({ op: "set", slot, value: 100 });
        await child.send({ op: "worker", name, value: 20, label: "w1" });
        await child.send({ op: "worker", name, value: 3, label: "w2" });
        writer.registerSlot({ label: "survivor" })!.set(1000);
        // Read once first, so the reader holds fresh "alive" verdicts when the process dies.
        assert.deepEqual([reader.aggregateStats().activeThreads, reader.aggregateStats().totalArenaBytes], [
          4,
          1123,
        ]);
        await child.kill("SIGKILL");
        await sleep(1000);
        const agg = reader.aggregateStats();
        assert.deepEqual(
          [agg.activeThreads, agg.deadSlots, agg.totalArenaBytes],
          [1, 3, 1000],
          "rows and totals without the dead",
        );
        assert.deepEqual([...reader.perThreadStats()].map((t) => t.label), ["survivor"]);
        assert.equal(reader.snapshot().count, 1);
        const report = takeSnapshot(reader);
        assert.deepEqual([report.activeThreads, report.deadSlots, report.totals.arena_bytes], [1, 3, 1000]);
        const doc = JSON.parse(cli(rt, ["show", name, "--json"]).stdout);
        assert.deepEqual([doc.activeThreads, doc.deadSlots, doc.slots.length], [1, 3, 1]);
        // Still in the table until reclaimed: a writer takes them back.
        assert.equal(writer.reclaim(), 3);
        assert.deepEqual([reader.aggregateStats().deadSlots, reader.reclaimedCount], [0, 3]);
      } finally {
        await child.kill();
        reader.close();
        writer.close();
        cleanup(name);
      }
    });
  }
});
