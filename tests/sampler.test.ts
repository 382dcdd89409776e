/**
 * startSampler in real Bun and Deno processes and Workers: the figures are
 * non-zero, follow the thread's own allocations, stop after stop(), and the
 * timer never keeps a process alive.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  MemoryStatsRegistry,
  MemstatsError,
  SAMPLER_FIELDS,
  startSampler,
  type ThreadMemoryStats,
} from "../mod.ts";
import { CHILD_RUNTIMES, cleanup, ROOT, runFile, uniqueName, waitFor } from "./helpers.ts";
import { Proc } from "./fixtures/proc.ts";

const MiB = 1 << 20;
const FIELDS = ["arena_bytes", ...SAMPLER_FIELDS];

function slotOf(reg: MemoryStatsRegistry, slot: number): ThreadMemoryStats {
  const s = reg.slotStats(slot);
  assert.ok(s, `slot ${slot} active`);
  return s;
}

describe("sampler", () => {
  for (const rt of CHILD_RUNTIMES) {
    it(`${rt}: main thread and Worker figures are non-zero and follow each thread's own allocations`, async () => {
      const name = uniqueName(`sampler-${rt}`);
      const reader = MemoryStatsRegistry.open(name, { capacity: 8, fields: FIELDS });
      const p = new Proc(rt, "diag_child.ts");
      try {
        await p.send({ op: "open", name });
        const main = await p.send({ op: "sampler", intervalMs: 50, label: "main" });
        assert.deepEqual(main.fields, SAMPLER_FIELDS.map((f) => (typeof f === "string" ? f : f.name)));
        const worker = await p.send({ op: "worker", intervalMs: 50, label: "worker" });
        const m0 = slotOf(reader, main.slot);
        const w0 = slotOf(reader, worker.slot);
        for (const s of [m0, w0]) {
          assert.ok(s.values.rss_bytes > 10 * MiB, `rss ${s.values.rss_bytes}`);
          assert.ok(s.values.heap_used_bytes > 0, "heap used");
          assert.ok(s.values.heap_total_bytes >= s.values.heap_used_bytes, "heap total >= used");
          assert.ok(s.values.external_bytes >= 0);
          assert.equal(s.values.arena_bytes, 0, "the sampler leaves the application's field alone");
        }
        assert.equal(m0.tid, p.pid);
        assert.notEqual(w0.tid, p.pid, "the Worker samples on its own thread");
        // The Worker allocates: its heap grows, the main thread's does not follow.
        await p.send({ op: "worker-op", index: 0, wop: "alloc", mb: 48 });
        await waitFor(
          () => slotOf(reader, worker.slot).values.heap_used_bytes > w0.values.heap_used_bytes + 24 * MiB,
          30_000,
          "worker heap to grow",
        );
        assert.ok(slotOf(reader, main.slot).values.heap_used_bytes < m0.values.heap_used_bytes + 24 * MiB);
        assert.ok(slotOf(reader, worker.slot).values.rss_bytes > m0.values.rss_bytes);
        // The main thread allocates.
        await p.send({ op: "alloc", mb: 48 });
        await waitFor(
          () => slotOf(reader, main.slot).values.heap_used_bytes > m0.values.heap_used_bytes + 24 * MiB,
          30_000,
          "main heap to grow",
        );
        const peak = slotOf(reader, main.slot).peaks.heap_used_bytes;
        assert.ok(peak > m0.values.heap_used_bytes + 24 * MiB);
        // rss_bytes is declared per process in the header: the total counts this process once
        // (its largest reading), while per-thread heap figures are summed.
        assert.deepEqual(reader.fieldKinds, ["thread", "process", "thread", "thread", "thread"]);
        const t = reader.snapshot();
        const rows = Array.from({ length: t.count }, (_, k) => k);
        assert.equal(t.totals[1], Math.max(...rows.map((k) => t.values[1][k])), "rss once per process");
        assert.equal(t.totals[2], rows.reduce((a, k) => a + t.values[2][k], 0), "heap summed over threads");
        assert.equal(reader.aggregateStats().totals.rss_bytes, t.totals[1], "one definition of totals");
      } finally {
        await p.close();
        reader.close();
        cleanup(name);
      }
    });

    it(`${rt}: stop() stops the figures; a slot the sampler registered is released`, async () => {
      const name = uniqueName(`sampler-stop-${rt}`);
      const reader = MemoryStatsRegistry.open(name, { capacity: 8, fields: FIELDS });
      const p = new Proc(rt, "diag_child.ts");
      try {
        await p.send({ op: "open", name });
        // A slot of the caller's: stays, frozen.
        const own = await p.send({ op: "sampler", intervalMs: 50, label: "own", ownSlot: true });
        await p.send({ op: "alloc", mb: 8 });
        const before = slotOf(reader, own.slot).updatedAt;
        await waitFor(() => slotOf(reader, own.slot).updatedAt > before, 30_000, "a sample");
        await p.send({ op: "sampler-stop" });
        const frozen = slotOf(reader, own.slot);
        await p.send({ op: "alloc", mb: 32 });
        await new Promise((r) => setTimeout(r, 400));
        const later = slotOf(reader, own.slot);
        assert.deepEqual(later.values, frozen.values);
        assert.equal(later.updatedAt, frozen.updatedAt);
        // A slot it registered itself: released by stop().
        const mine = await p.send({ op: "sampler", intervalMs: 50, label: "sampler's" });
        assert.ok(reader.slotStats(mine.slot));
        await p.send({ op: "sampler-stop" });
        assert.equal(reader.slotStats(mine.slot), null);
        assert.equal(reader.aggregateStats().activeThreads, 1);
      } finally {
        await p.close();
        reader.close();
        cleanup(name);
      }
    });

    it(`${rt}: the sampler's timer never keeps a process alive`, () => {
      const name = uniqueName(`sampler-exit-${rt}`);
      try {
        const r = runFile(rt, `${ROOT}tests/fixtures/sampler_exit.ts`, [name]);
        assert.equal(r.status, 0, r.stderr);
        const values = JSON.parse(r.stdout);
        assert.ok(values.rss_bytes > 0 && values.heap_used_bytes > 0);
      } finally {
        cleanup(name);
      }
    });
  }

  it("a segment without any sampler field is a SCHEMA error naming the fields to add", () => {
    const name = uniqueName("sampler-schema");
    const reg = MemoryStatsRegistry.open(name, { fields: ["arena_bytes"] });
    try {
      assert.throws(() => startSampler(reg), (e) => {
        assert.ok(e instanceof MemstatsError);
        assert.equal(e.code, "SCHEMA");
        assert.match(
          e.message,
          /none of which the sampler writes; create it with fields: \["arena_bytes", \.\.\.SAMPLER_FIELDS\]/,
        );
        return true;
      });
      assert.throws(() => startSampler(reg, { intervalMs: 0 }), /intervalMs must be a number >= 10/);
      assert.equal(reg.aggregateStats().activeThreads, 0, "nothing registered");
    } finally {
      reg.close();
      cleanup(name);
    }
  });

  it("writes only the sampler fields the segment has, in one update", () => {
    const name = uniqueName("sampler-some");
    const reg = MemoryStatsRegistry.open(name, { fields: ["arena_bytes", "rss_bytes"] });
    try {
      const s = startSampler(reg, { label: "partial" });
      assert.deepEqual(s.fields, ["rss_bytes"]);
      const v = reg.slotStats(s.slot!.index)!.values;
      assert.ok(v.rss_bytes > 0);
      assert.equal(v.arena_bytes, 0);
      s.stop();
      s.stop();
      assert.ok(s.stopped);
    } finally {
      reg.close();
      cleanup(name);
    }
  });
});
