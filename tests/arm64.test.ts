/**
 * One segment shared between this x86-64 process and arm64 processes (the
 * linux-arm64 builds of Bun and Deno under qemu-user, scripts/arm64.ts), in
 * both directions: the layout is the same bytes on both CPUs, values are
 * exact, and a read-only arm64 Bun reader does not fault (it used to: JSC
 * compiled the old JS atomic loads on the PROT_READ mapping to instructions
 * that write, "Segmentation fault at address ...020" inside the mapping; reads
 * now go through the shim's C scan). qemu-user runs the arm64 code and
 * enforces page protections; it shows no weak-memory reordering.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { arm64Env, type Arm64Runtime, arm64Unavailable } from "../scripts/arm64.ts";
import { Child, cleanup, HERE, ROOT, runFile, uniqueName } from "./helpers.ts";

const ARM64: Arm64Runtime[] = ["bun", "deno"];

// Each native runner pairs with the arm64 build of its own runtime (an arm64 process costs seconds).
function skipReason(rt: Arm64Runtime): string | undefined {
  if (process.env.MEMSTATS_TEST_ARCH === "arm64") {
    return "pairs a native process with arm64 ones: runs natively";
  }
  if (process.arch !== "x64") return `pairs x86-64 with arm64; this is ${process.arch}`;
  if (rt !== HERE) return `the ${rt} runner pairs x86-64 ${rt} with arm64 ${rt}`;
  return arm64Unavailable(rt);
}

// Values at the edges of exactness: 0, one below 2^32, 2^32, and 2^53 - 1.
const VALUES = [
  { heap: 0, rss: 4294967295, big: 2 ** 53 - 1 },
  { heap: 4294967296, rss: 1, big: 123456789012345 },
  { heap: 7, rss: 2 ** 40 + 3, big: 0 },
];
const LABELS = ["x86 écrit", "🚀 rocket", ""];
const FIELDS = ["heap", "rss", "big"];

/** What a reader compares: everything but times. */
function essentials(t: {
  slot: number;
  threadId: number;
  pid: number;
  tid: number;
  label: string;
  values: Record<string, number>;
  peaks: Record<string, number>;
}) {
  return {
    slot: t.slot,
    threadId: t.threadId,
    pid: t.pid,
    tid: t.tid,
    label: t.label,
    values: t.values,
    peaks: t.peaks,
  };
}

describe(`x86-64 (${HERE}) and arm64 processes share one segment`, () => {
  for (const rt of ARM64) {
    it(`arm64 ${rt} attaches read-only and reads an x86-64 writer's table exactly, without a fault`, {
      skip: skipReason(rt),
    }, () => {
      const name = uniqueName(`a64r-${rt}`);
      const w = MemoryStatsRegistry.open(name, { capacity: 4, fields: FIELDS });
      try {
        const handles = VALUES.map((v, i) => {
          const h = w.registerSlot({ label: LABELS[i] })!;
          h.update({ heap: v.heap + 1000, rss: v.rss, big: v.big }); // a peak above the final heap value
          h.update(v);
          return h;
        });
        const r = runFile(rt, `${ROOT}tests/fixtures/ro_read.ts`, [name], arm64Env());
        const crash = `arm64 ${rt} reader: status ${r.status}, signal ${r.signal}\n${
          r.stderr.slice(0, 1500)
        }`;
        assert.match(r.stdout, /^attached$/m, crash);
        assert.equal(r.signal, null, crash);
        assert.equal(r.status, 0, crash);
        assert.doesNotMatch(r.stderr, /panic|Segmentation fault|Bus error/, crash);
        const got = JSON.parse(r.stdout.trim().split("\n").pop()!);
        assert.deepEqual(got.info, { capacity: 4, fields: FIELDS, layoutVersion: w.info.layoutVersion });
        assert.deepEqual(got.census, { live: 3, dead: 0 });
        const agg = w.aggregateStats();
        assert.deepEqual(got.aggregate.totals, agg.totals);
        assert.deepEqual(
          [got.aggregate.activeThreads, got.aggregate.totalArenaBytes, got.aggregate.overflowCount],
          [3, VALUES.reduce((s, v) => s + v.heap, 0), 0],
        );
        const mine = [...w.perThreadStats()].map(essentials);
        assert.deepEqual(got.threads.map(essentials), mine);
        assert.deepEqual(got.slots.map(essentials), mine);
        assert.deepEqual(mine.map((t) => t.values), VALUES);
        assert.deepEqual(mine.map((t) => t.label), LABELS);
        assert.deepEqual(mine.map((t) => t.peaks.heap), VALUES.map((v) => v.heap + 1000));
        assert.deepEqual(mine.map((t) => t.threadId), handles.map((h) => h.ownerId));
      } finally {
        w.close();
        cleanup(name);
      }
    });

    it(`arm64 ${rt} creates, claims and writes; this x86-64 process reads exactly and writes back`, {
      skip: skipReason(rt),
    }, async () => {
      const name = uniqueName(`a64w-${rt}`);
      const child = new Child(rt, arm64Env());
      let reader: MemoryStatsRegistry | undefined;
      let writer: MemoryStatsRegistry | undefined;
      try {
        const opened = await child.send({ op: "open", name, options: { capacity: 4, fields: FIELDS } });
        assert.equal(opened.created, true, "the arm64 process created the segment");
        const claims: { slot: number; threadId: number }[] = [];
        for (const [i, v] of VALUES.entries()) {
          const c = await child.send<{ slot: number; threadId: number }>({
            op: "register",
            name,
            label: LABELS[i],
          });
          await child.send({ op: "update", slot: c.slot, values: { ...v, heap: v.heap + 1000 } });
          await child.send({ op: "set", slot: c.slot, value: v.heap }); // the single-field store
          await child.send({ op: "update", slot: c.slot, values: { rss: v.rss, big: v.big } });
          claims.push(c);
        }
        reader = MemoryStatsRegistry.open(name, { readOnly: true, create: false });
        writer = MemoryStatsRegistry.open(name, { capacity: 4, fields: FIELDS });
        for (const r of [reader, writer]) {
          assert.equal(r.created, false);
          assert.deepEqual(r.ownerCensus(), { live: 3, dead: 0 });
          const threads = [...r.perThreadStats()];
          assert.deepEqual(threads.map((t) => t.values), VALUES);
          assert.deepEqual(threads.map((t) => t.peaks.heap), VALUES.map((v) => v.heap + 1000));
          assert.deepEqual(threads.map((t) => t.label), LABELS);
          assert.deepEqual(threads.map((t) => [t.slot, t.threadId]), claims.map((c) => [c.slot, c.threadId]));
          assert.ok(threads.every((t) => t.pid === child.pid), "the arm64 process's own pid");
          assert.deepEqual(r.aggregateStats().totals, {
            heap: VALUES.reduce((s, v) => s + v.heap, 0),
            rss: VALUES.reduce((s, v) => s + v.rss, 0),
            big: VALUES.reduce((s, v) => s + v.big, 0),
          });
        }
        // And back: x86-64 claims the last slot; the arm64 process reads it exactly.
        const h = writer.registerSlot({ label: "from x86-64" })!;
        h.update({ heap: 2 ** 53 - 1, rss: 5, big: 6 });
        const seen = await child.send<{
          aggregate: { activeThreads: number };
          threads: { slot: number; threadId: number; pid: number; label: string; values: object }[];
        }>({ op: "stats", name });
        assert.equal(seen.aggregate.activeThreads, 4);
        const ours = seen.threads.find((t) => t.slot === h.index)!;
        assert.deepEqual(
          [ours.threadId, ours.pid, ours.label, ours.values],
          [h.ownerId, process.pid, "from x86-64", { heap: 2 ** 53 - 1, rss: 5, big: 6 }],
        );
        // The arm64 process exits normally: its slots are released by its exit hooks.
        assert.deepEqual(await child.close(), { code: 0, signal: null });
        assert.deepEqual(reader.ownerCensus(), { live: 1, dead: 0 });
        assert.equal(reader.aggregateStats().activeThreads, 1);
        assert.equal(reader.reclaimedCount, 0, "released at exit, not reclaimed");
      } finally {
        await child.kill();
        reader?.close();
        writer?.close();
        cleanup(name);
      }
    });

    it(
      `no torn value between x86-64 and arm64 ${rt}, whichever writes`,
      { skip: skipReason(rt) },
      async () => {
        const name = uniqueName(`a64t-${rt}`);
        const arm = new Child(rt, arm64Env());
        const native = new Child(HERE);
        try {
          const options = { fields: ["v", "a", "b"] };
          for (const [w, r] of [[arm, native], [native, arm]]) {
            await w.send({ op: "open", name, options });
            await r.send({ op: "open", name, options: { readOnly: true } });
            const { slot } = await w.send<{ slot: number }>({ op: "register", name });
            const [wr, rd] = await Promise.all([
              w.send<{ writes: number }>({ op: "pattern", slot, ms: 1500, multi: true }),
              r.send<{ reads: number; torn: number }>({
                op: "check-pattern",
                name,
                slot,
                ms: 1500,
                multi: true,
              }),
            ]);
            const who = `${w === arm ? "arm64" : "x86-64"} writer, ${r === arm ? "arm64" : "x86-64"} reader`;
            assert.ok(
              wr.writes > 0 && rd.reads > 0,
              `${who}: both ran (${wr.writes} writes, ${rd.reads} reads)`,
            );
            assert.equal(rd.torn, 0, `${who}: ${rd.torn} torn reads of ${rd.reads}`);
            await w.send({ op: "release", slot });
          }
        } finally {
          await Promise.all([arm.kill(), native.kill()]);
          cleanup(name);
        }
      },
    );
  }
});
