/**
 * Separate OS processes of all three runtimes share one table: racing
 * claims, values written in one runtime and read in another, release at
 * exit, and CAS/fetch-add exactness across processes.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryStatsRegistry } from "../mod.ts";
import { Child, cleanup, nextRuntime, type Runtime, RUNTIMES, uniqueName, waitFor } from "./helpers.ts";

interface Stats {
  aggregate: { activeThreads: number; totalArenaBytes: number; overflowCount: number };
  threads: { slot: number; threadId: number; pid: number; tid: number; label: string; arenaBytes: number }[];
}

describe("cross-process, mixed runtimes", () => {
  it("K=6 Bun, Deno and Node processes racing into capacity 4: exactly 4 claims, overflow exactly 2, exact totals", async () => {
    const name = uniqueName("race");
    const kids = [...RUNTIMES, ...RUNTIMES].map((rt) => new Child(rt));
    try {
      // Everyone attaches first, then all registrations are sent at once.
      await Promise.all(kids.map((k) => k.send({ op: "open", name, options: { capacity: 4 } })));
      const answers = await Promise.all(
        kids.map((k, i) =>
          k.send<{ slot: number | null; threadId: number | null }>({ op: "register", name, label: `k${i}` })
        ),
      );
      const winners = answers.map((a, i) => ({ ...a, i })).filter((a) => a.slot !== null);
      assert.equal(winners.length, 4);
      assert.equal(new Set(winners.map((w) => w.slot)).size, 4, "no slot handed out twice");
      assert.equal(new Set(winners.map((w) => w.threadId)).size, 4, "owner ids are distinct");
      await Promise.all(winners.map((w) => kids[w.i].send({ op: "set", slot: w.slot, value: 1000 + w.i })));

      const reader = MemoryStatsRegistry.open(name, { readOnly: true });
      try {
        const agg = reader.aggregateStats();
        assert.equal(agg.activeThreads, 4);
        assert.equal(agg.overflowCount, 2);
        assert.equal(agg.totalArenaBytes, winners.reduce((s, w) => s + 1000 + w.i, 0));
        const threads = [...reader.perThreadStats()];
        assert.equal(new Set(threads.map((t) => t.tid)).size, 4, "OS thread ids are distinct");
        assert.deepEqual(new Set(threads.map((t) => t.pid)), new Set(winners.map((w) => kids[w.i].pid)));
        // Normal exit releases in every runtime (Deno: unload event, Bun and Node: process 'exit').
        await Promise.all(kids.map((k) => k.close()));
        assert.equal(reader.aggregateStats().activeThreads, 0);
        assert.equal(reader.reclaimedCount, 0, "released by exit hooks, not reclaimed");
      } finally {
        reader.close();
      }
    } finally {
      await Promise.all(kids.map((k) => k.kill()));
      cleanup(name);
    }
  });

  const pairs = RUNTIMES.flatMap((w) =>
    RUNTIMES.filter((r) => r !== w).map((r) => [w, r] as [Runtime, Runtime])
  );
  for (const [writer, reader] of pairs) {
    it(`a slot written from ${writer} is read from ${reader}`, async () => {
      const name = uniqueName(`x-${writer}`);
      const w = new Child(writer);
      const r = new Child(reader);
      try {
        await w.send({ op: "open", name, options: { fields: ["heap", "rss"] } });
        const { slot } = await w.send<{ slot: number }>({ op: "register", name, label: `from ${writer} ✓` });
        await w.send({ op: "update", slot, values: { heap: 123_456_789, rss: 2 ** 52 + 1 } });
        await w.send({ op: "update", slot, values: { heap: 5 } });
        await r.send({ op: "open", name, options: { create: false } });
        const s = await r.send<Stats>({ op: "stats", name });
        assert.equal(s.threads.length, 1);
        const t = s.threads[0] as unknown as {
          label: string;
          pid: number;
          values: Record<string, number>;
          peaks: Record<string, number>;
        };
        assert.equal(t.label, `from ${writer} ✓`);
        assert.equal(t.pid, w.pid);
        assert.deepEqual(t.values, { heap: 5, rss: 2 ** 52 + 1 });
        assert.deepEqual(t.peaks, { heap: 123_456_789, rss: 2 ** 52 + 1 });
      } finally {
        await Promise.all([w.kill(), r.kill()]);
        cleanup(name);
      }
    });
  }

  it("claims are exclusive and owner ids unique under churn: 2 processes of each runtime, capacity 2", async () => {
    const name = uniqueName("churn");
    const kids = RUNTIMES.flatMap((rt) => [new Child(rt), new Child(rt)]);
    const rounds = 1500;
    try {
      await Promise.all(kids.map((k) => k.send({ op: "open", name, options: { capacity: 2 } })));
      const results = await Promise.all(
        kids.map((k) =>
          k.send<{ ids: number[]; nulls: number; clashes: number }>({ op: "churn", name, rounds }, 120_000)
        ),
      );
      const ids = results.flatMap((r) => r.ids);
      const nulls = results.reduce((s, r) => s + r.nulls, 0);
      assert.equal(
        results.reduce((s, r) => s + r.clashes, 0),
        0,
        "a slot was owned by two processes at once",
      );
      assert.equal(new Set(ids).size, ids.length, "an owner id was handed out twice");
      assert.equal(ids.length + nulls, kids.length * rounds);
      const reg = MemoryStatsRegistry.open(name, { readOnly: true });
      try {
        assert.equal(reg.overflowCount, nulls, "every refusal counted exactly once");
        assert.equal(reg.aggregateStats().activeThreads, 0, "every claim released");
        assert.equal(reg.reclaimedCount, 0);
      } finally {
        reg.close();
      }
    } finally {
      await Promise.all(kids.map((k) => k.kill()));
      cleanup(name);
    }
  });

  for (const rt of RUNTIMES) {
    const other = nextRuntime(rt);
    it(`no torn value: ${rt} writes patterned values while ${other} reads them`, async () => {
      const name = uniqueName(`torn-${rt}`);
      const w = new Child(rt);
      const r = new Child(other);
      try {
        await w.send({ op: "open", name, options: { fields: ["v", "a", "b"] } });
        const { slot } = await w.send<{ slot: number }>({ op: "register", name });
        await r.send({ op: "open", name, options: { readOnly: true } });
        const [wr, rd] = await Promise.all([
          w.send<{ writes: number }>({ op: "pattern", slot, ms: 1500, multi: true }),
          r.send<{ reads: number; torn: number }>({ op: "check-pattern", name, slot, ms: 1500, multi: true }),
        ]);
        assert.ok(wr.writes > 10_000, `writer made progress (${wr.writes})`);
        assert.ok(rd.reads > 1000, `reader made progress (${rd.reads})`);
        assert.equal(rd.torn, 0);
      } finally {
        await Promise.all([w.kill(), r.kill()]);
        cleanup(name);
      }
    });
  }

  it("a value written in one process is visible in another without any call", async () => {
    const name = uniqueName("vis");
    const reg = MemoryStatsRegistry.open(name);
    const w = new Child("bun");
    try {
      await w.send({ op: "open", name });
      const { slot } = await w.send<{ slot: number }>({ op: "register", name });
      for (const v of [1, 2 ** 40, 7]) {
        await w.send({ op: "set", slot, value: v });
        await waitFor(() => reg.slotStats(slot)?.arenaBytes === v, 2000, `value ${v}`);
      }
      assert.equal(reg.slotStats(slot)!.peaks.arena_bytes, 2 ** 40);
    } finally {
      await w.kill();
      reg.close();
      cleanup(name);
    }
  });
});
