/**
 * Read-only really is read-only: a read-only registry maps the segment
 * PROT_READ from an O_RDONLY descriptor (no writable view exists, and a store
 * through its memory is stopped by the kernel), every write call throws
 * READ_ONLY, and every read call leaves the file's bytes as they were.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { MemoryStatsRegistry, MemstatsError } from "../mod.ts";
import { CHILD_RUNTIMES, cleanup, emulatedSkip, ROOT, runFile, uniqueName } from "./helpers.ts";

/** Permission strings ("r--s", "rw-s") of this process's mappings of a segment. */
function mappings(name: string): string[] {
  return readFileSync("/proc/self/maps", "utf8").split("\n")
    .filter((l) => l.endsWith(`/dev/shm${name}`) || l.endsWith(`/dev/shm${name} (deleted)`))
    .map((l) => l.split(/\s+/)[1]);
}

/** Open descriptors of this process on a segment's file. */
function descriptors(name: string): number {
  let n = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(`/dev/shm${name}`)) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

const digest = (name: string) => createHash("sha256").update(readFileSync(`/dev/shm${name}`)).digest("hex");

// Every member of MemoryStatsRegistry.prototype, by what it may do on a read-only registry.
// A new member fails the last test until it is put in one of these lists.
const WRITES = ["register", "registerSlot", "updateArena", "release", "reclaim"];
const READS = [
  "name",
  "capacity",
  "fields",
  "fieldKinds",
  "readOnly",
  "created",
  "overflowCount",
  "reclaimedCount",
  "info",
  "slot",
  "ownerCensus",
  "aggregateStats",
  "perThreadStats",
  "slotStats",
  "snapshot",
  "closed",
  "close",
  "constructor",
];

describe("read-only", () => {
  it("a read-only registry's only mapping is PROT_READ (r--s) and it keeps no descriptor; a writer's is rw-s", () => {
    const name = uniqueName("maps");
    const w = MemoryStatsRegistry.open(name);
    try {
      assert.deepEqual(mappings(name), ["rw-s"]);
      const r = MemoryStatsRegistry.open(name, { readOnly: true });
      assert.deepEqual(mappings(name).sort(), ["r--s", "rw-s"]);
      assert.equal(descriptors(name), 0, "descriptors are closed once mapped");
      r.aggregateStats();
      r.ownerCensus();
      r.close();
      assert.deepEqual(mappings(name), ["rw-s"], "close unmaps");
    } finally {
      w.close();
      cleanup(name);
    }
    assert.deepEqual(mappings(name), []);
  });

  for (const rt of CHILD_RUNTIMES) {
    for (const view of ["u8", "f64"]) {
      it(`${rt}: a store through a read-only segment's ${view} view is stopped by the kernel (SIGSEGV)`, {
        skip: emulatedSkip(rt),
      }, () => {
        const name = uniqueName(`poke-${rt}`);
        MemoryStatsRegistry.open(name).close();
        try {
          const before = digest(name);
          const r = runFile(rt, `${ROOT}tests/fixtures/ro_poke.ts`, [name, view]);
          assert.match(r.stdout, /^mapped$/m, r.stderr);
          assert.doesNotMatch(r.stdout, /stored/);
          // Deno dies by the signal; Bun's crash handler prints a banner, then re-raises it.
          assert.ok(
            r.signal === "SIGSEGV" || r.signal === "SIGBUS",
            `${r.signal} ${r.status}: ${r.stderr.slice(0, 500)}`,
          );
          assert.equal(digest(name), before, "not one byte changed");
        } finally {
          cleanup(name);
        }
      });
    }
  }

  it("every write call throws READ_ONLY, every read call leaves the file's bytes unchanged", () => {
    const name = uniqueName("ro-all");
    const w = MemoryStatsRegistry.open(name, { capacity: 2, fields: ["a", "b"] });
    const mine = w.registerSlot({ label: "writer" })!;
    mine.update({ a: 5, b: 6 });
    const r = MemoryStatsRegistry.open(name, { readOnly: true });
    try {
      const before = digest(name);
      const calls: Record<string, () => unknown> = {
        register: () => r.register({ label: "x" }),
        registerSlot: () => r.registerSlot(),
        updateArena: () => r.updateArena(mine.index, 1),
        "updateArena(out of range)": () => r.updateArena(99, 1),
        release: () => r.release(mine.index),
        reclaim: () => r.reclaim(),
      };
      for (const [what, call] of Object.entries(calls)) {
        assert.throws(call, (e: unknown) => e instanceof MemstatsError && e.code === "READ_ONLY", what);
      }
      assert.equal(r.slot(mine.index), undefined);
      assert.deepEqual([r.name, r.capacity, r.fields, r.readOnly, r.created], [
        name,
        2,
        ["a", "b"],
        true,
        false,
      ]);
      assert.deepEqual([r.overflowCount, r.reclaimedCount, r.info.capacity], [0, 0, 2]);
      assert.deepEqual(r.ownerCensus(), { live: 1, dead: 0 });
      assert.equal(r.aggregateStats().totals.b, 6);
      assert.equal([...r.perThreadStats()][0].label, "writer");
      assert.equal(r.slotStats(mine.index)?.values.a, 5);
      assert.deepEqual(r.fieldKinds, ["thread", "thread"]);
      const t = r.snapshot();
      assert.deepEqual([t.count, t.values[1][0], t.labels[0]], [1, 6, "writer"]);
      assert.equal(digest(name), before, "reads wrote nothing");
      assert.equal(w.slotStats(mine.index)?.threadId, mine.ownerId, "the writer still owns its slot");
      r.close();
      assert.equal(r.closed, true);
      assert.equal(digest(name), before, "closing a reader releases nothing");
    } finally {
      r.close();
      w.close();
      cleanup(name);
    }
  });

  it("every member of MemoryStatsRegistry is classified as a write (tested above) or a read", () => {
    const members = Object.getOwnPropertyNames(MemoryStatsRegistry.prototype);
    const known = new Set([...WRITES, ...READS]);
    assert.deepEqual(
      members.filter((m) => !known.has(m)),
      [],
      "classify the new members in readonly.test.ts",
    );
  });
});
