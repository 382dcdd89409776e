/**
 * The C11 reference implementation (native/reference/), written from
 * docs/FORMAT.md alone, against the library:
 *
 * - it builds warning-free under gcc and clang;
 * - a reference writer's slots read exactly (values, peaks, labels, kinds,
 *   totals) in this runtime and in a child of the other; Bun and Deno
 *   writers' slots read exactly in the reference; both kinds of writers
 *   share one table without collisions;
 * - each side reclaims the other's SIGKILLed owners (active and mid-claim)
 *   and never a live one;
 * - header errors are classified alike;
 * - under ThreadSanitizer, the reference's threaded stress and the shim's
 *   own reader (ms_scan) against reference writers report nothing and see
 *   no torn copy.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { createInterface } from "node:readline";
import { MemoryStatsRegistry, type ThreadMemoryStats } from "../mod.ts";
import {
  Child,
  CHILD_RUNTIMES,
  cleanup,
  HERE,
  onlyUnder,
  OTHER,
  ROOT,
  RUNTIMES,
  uniqueName,
} from "./helpers.ts";

const SRC = `${ROOT}native/reference`;
const CC = process.env.CC || "cc";
const WARN = ["-std=c11", "-Wall", "-Wextra", "-Werror", "-pthread"];
const DIR = mkdtempSync(`${tmpdir()}/memstats-ref-`);
process.on("exit", () => rmSync(DIR, { recursive: true, force: true }));

function compile(cc: string, out: string, flags: string[], files: string[]): { ok: boolean; log: string } {
  const r = spawnSync(cc, [...flags, "-o", out, ...files, "-lrt"], { encoding: "utf8", timeout: 120_000 });
  return { ok: r.status === 0, log: `${r.stderr ?? ""}${r.error ?? ""}` };
}

function compilerWorks(cc: string): boolean {
  return spawnSync(cc, ["--version"], { encoding: "utf8" }).status === 0;
}

const NO_CC = compilerWorks(CC) ? undefined : `no C compiler (${CC}) on this machine`;

/** Why ThreadSanitizer cannot be used here, or undefined when a tiny threaded program builds and runs clean. */
function tsanUnavailable(): string | undefined {
  if (NO_CC) return NO_CC;
  const src = `${DIR}/tsan_probe.c`;
  const fd = openSync(src, "w");
  writeSync(
    fd,
    "#include <pthread.h>\n#include <stdatomic.h>\nstatic atomic_int x;\n" +
      "static void *f(void *a) { atomic_fetch_add(&x, 1); return a; }\n" +
      "int main(void) { pthread_t t; pthread_create(&t, 0, f, 0); atomic_fetch_add(&x, 1);" +
      " pthread_join(t, 0); return atomic_load(&x) == 2 ? 0 : 1; }\n",
  );
  closeSync(fd);
  const built = compile(CC, `${DIR}/tsan_probe`, ["-fsanitize=thread", "-pthread"], [src]);
  if (!built.ok) return `${CC} -fsanitize=thread cannot build here: ${built.log.split("\n")[0]}`;
  const run = spawnSync(`${DIR}/tsan_probe`, [], { encoding: "utf8", timeout: 60_000 });
  if (run.status !== 0) {
    return `ThreadSanitizer programs cannot run here: ${(run.stderr ?? "").split("\n")[0]}`;
  }
  return undefined;
}

// The tests of C alone (the builds, the reference's stress, ThreadSanitizer) run under one runner.
const C_ONLY = onlyUnder("deno");
const NO_TSAN = C_ONLY ? undefined : tsanUnavailable();

const built = new Map<string, string>();
/** Build a variant once per test process; returns the executable's path. */
function tool(variant: "plain" | "tsan" | "shim-tsan"): string {
  const done = built.get(variant);
  if (done) return done;
  const out = `${DIR}/memstats_ref_tool-${variant}`;
  const files = [`${SRC}/memstats_ref.c`, `${SRC}/memstats_ref_tool.c`];
  let r;
  if (variant === "plain") {
    r = compile(CC, out, ["-O2", ...WARN], files);
  } else if (variant === "tsan") {
    r = compile(CC, out, ["-O1", "-g", "-fsanitize=thread", ...WARN], files);
  } else {
    // The shim is compiled as the project compiles it (no -Werror: gcc's -Wtsan notes its fences).
    const obj = `${DIR}/memstats_shim-tsan.o`;
    const shim = compile(CC, obj, ["-c", "-O1", "-g", "-fsanitize=thread", "-std=c11", "-pthread", "-Wall"], [
      `${ROOT}native/memstats_shim.c`,
    ]);
    assert.ok(shim.ok, shim.log);
    r = compile(
      CC,
      out,
      ["-O1", "-g", "-fsanitize=thread", "-DMSR_WITH_SHIM", ...WARN],
      [...files, `${SRC}/shim_reader.c`, obj],
    );
  }
  assert.ok(r.ok, `building the reference (${variant}) failed:\n${r.log}`);
  built.set(variant, out);
  return out;
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** Run the reference tool to completion; its one JSON line. */
function ref(args: string[]): Json {
  const r = spawnSync(tool("plain"), args, { encoding: "utf8", timeout: 60_000 });
  const line = (r.stdout ?? "").trim().split("\n").pop() ?? "";
  let out: Json;
  try {
    out = JSON.parse(line);
  } catch {
    throw new Error(`reference ${args.join(" ")}: no JSON (status ${r.status}): ${r.stdout}${r.stderr}`);
  }
  return out;
}

function refOk(args: string[]): Json {
  const out = ref(args);
  if (out.error) throw new Error(`reference ${args.join(" ")}: ${out.error.code} ${out.error.message}`);
  return out;
}

/** A reference `write ... --hold` process: holds its slots until closed or killed. */
class RefWriter {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  info!: { pid: number; slots: { slot: number; owner: number | string; tid: number }[] };

  private constructor(args: string[]) {
    this.proc = spawn(tool("plain"), ["write", ...args, "--hold"], { stdio: ["pipe", "pipe", "pipe"] });
    this.exited = new Promise((resolve) => this.proc.on("exit", (code) => resolve(code)));
  }

  static async start(args: string[]): Promise<RefWriter> {
    const w = new RefWriter(args);
    const line = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: w.proc.stdout! });
      rl.once("line", resolve);
      w.proc.once("exit", () => reject(new Error(`reference writer exited early: ${args.join(" ")}`)));
    });
    const out = JSON.parse(line);
    if (out.error) throw new Error(`reference writer: ${out.error.code} ${out.error.message}`);
    w.info = out;
    return w;
  }

  /** Close stdin: the writer releases its slots and exits. */
  async close(): Promise<void> {
    this.proc.stdin!.end();
    await this.exited;
  }

  async kill(): Promise<void> {
    try {
      process.kill(this.proc.pid!, "SIGKILL");
    } catch { /* gone */ }
    await this.exited;
  }
}

/** The fields every interop test uses: one per process, so totals count processes once. */
const FIELDS = ["arena_bytes", "rss_bytes:process", "heap_bytes"];
const LIB_FIELDS = ["arena_bytes", { name: "rss_bytes", kind: "process" as const }, "heap_bytes"];

function bySlot<T extends { slot: number }>(rows: Iterable<T>): T[] {
  return [...rows].sort((a, b) => a.slot - b.slot);
}

/** A library row in the reference's terms. */
function libRow(t: ThreadMemoryStats): Json {
  return {
    slot: t.slot,
    owner: t.threadId,
    pid: t.pid,
    tid: t.tid,
    label: t.label,
    values: t.values,
    peaks: t.peaks,
    registeredAt: t.registeredAt,
    updatedAt: t.updatedAt,
  };
}

/** A reference row in the same terms. */
function refRow(r: Json): Json {
  const { slot, owner, pid, tid, label, values, peaks, registeredAt, updatedAt } = r;
  return { slot, owner, pid, tid, label, values, peaks, registeredAt, updatedAt };
}

describe("reference implementation (native/reference/)", () => {
  it("builds with -std=c11 -Wall -Wextra -Werror under gcc and clang", { skip: NO_CC || C_ONLY }, () => {
    const compilers = ["gcc", "clang"].filter(compilerWorks);
    if (!compilers.includes(CC) && compilerWorks(CC)) compilers.push(CC);
    assert.ok(compilers.length > 0);
    for (const cc of compilers) {
      const r = compile(cc, `${DIR}/werror-${cc.replace(/\W/g, "_")}`, ["-O2", ...WARN], [
        `${SRC}/memstats_ref.c`,
        `${SRC}/memstats_ref_tool.c`,
      ]);
      assert.ok(r.ok, `${cc}: ${r.log}`);
    }
    tool("plain");
  });

  it(
    `a reference writer's slots read exactly in ${HERE} and in a ${OTHER} child: values, peaks, labels, kinds, totals`,
    { skip: NO_CC },
    async () => {
      const name = uniqueName("ref-w");
      const writers: RefWriter[] = [];
      const child = new Child(OTHER);
      try {
        refOk(["create", name, "8", ...FIELDS]);
        // Two threads of one process (multi-field writes, then lower values: peaks stay),
        // one process writing field by field with a label cut at 63 bytes on a character boundary.
        const label = "naïve ✓ 🧠 «memstats»";
        writers.push(
          await RefWriter.start([
            name,
            label,
            "1000",
            "5000",
            "300",
            "--then",
            "400",
            "6000",
            "100",
            "--threads",
            "2",
          ]),
        );
        writers.push(await RefWriter.start([name, "x".repeat(62) + "é", "7", "2000", "9", "--single"]));
        // Invalid UTF-8 and terminal controls: decoded with U+FFFD, controls replaced.
        writers.push(
          await RefWriter.start([name, "", "1", "1", "1", "--label-hex", "41ff421b5b33316de280aec3"]),
        );
        const [two, single, odd] = writers.map((w) => w.info);
        const expected = [
          ...two.slots.map((s) => ({
            slot: s.slot,
            owner: s.owner,
            pid: two.pid,
            tid: s.tid,
            label,
            values: { arena_bytes: 400, rss_bytes: 6000, heap_bytes: 100 },
            peaks: { arena_bytes: 1000, rss_bytes: 6000, heap_bytes: 300 },
          })),
          {
            slot: single.slots[0].slot,
            owner: single.slots[0].owner,
            pid: single.pid,
            tid: single.slots[0].tid,
            label: "x".repeat(62),
            values: { arena_bytes: 7, rss_bytes: 2000, heap_bytes: 9 },
            peaks: { arena_bytes: 7, rss_bytes: 2000, heap_bytes: 9 },
          },
          {
            slot: odd.slots[0].slot,
            owner: odd.slots[0].owner,
            pid: odd.pid,
            tid: odd.slots[0].tid,
            label: "A\ufffdB\ufffd[31m\ufffd\ufffd",
            values: { arena_bytes: 1, rss_bytes: 1, heap_bytes: 1 },
            peaks: { arena_bytes: 1, rss_bytes: 1, heap_bytes: 1 },
          },
        ].sort((a, b) => a.slot - b.slot);
        // rss_bytes counts each process once: 6000 (two threads) + 2000 + 1.
        const totals = { arena_bytes: 808, rss_bytes: 8001, heap_bytes: 210 };
        const pick = (t: Json) => {
          const { slot, owner, pid, tid, label, values, peaks } = t;
          return { slot, owner, pid, tid, label, values, peaks };
        };

        using reader = MemoryStatsRegistry.open(name, { readOnly: true });
        assert.deepEqual(reader.fieldKinds, ["thread", "process", "thread"]);
        const rows = bySlot(reader.perThreadStats()).map(libRow);
        assert.deepEqual(rows.map(pick), expected);
        for (const r of rows) {
          assert.ok(Math.abs(r.registeredAt - Date.now()) < 60_000 && r.updatedAt >= r.registeredAt);
        }
        const agg = reader.aggregateStats();
        assert.deepEqual(agg.totals, totals);
        assert.equal(agg.activeThreads, 4);
        assert.equal(agg.deadSlots, 0);
        assert.equal(agg.skippedSlots, 0);

        await child.send({ op: "open", name, options: { readOnly: true } });
        const theirs = await child.send({ op: "stats", name });
        assert.deepEqual(bySlot(theirs.threads as ThreadMemoryStats[]).map(libRow), rows);
        assert.deepEqual(theirs.aggregate.totals, totals);

        // The reference reads itself the same way.
        const own = refOk(["read", name]);
        assert.deepEqual(own.rows.map(refRow), rows);
        assert.deepEqual(own.totals, totals);
        assert.deepEqual(own.kinds, { arena_bytes: "thread", rss_bytes: "process", heap_bytes: "thread" });

        for (const w of writers) await w.close();
        assert.equal(reader.aggregateStats().activeThreads, 0, "closed writers released their slots");
      } finally {
        for (const w of writers) await w.kill();
        await child.close();
        cleanup(name);
      }
    },
  );

  for (const rt of CHILD_RUNTIMES) {
    it(`${rt} writers' slots read exactly in the reference`, { skip: NO_CC }, async () => {
      const name = uniqueName(`ref-r-${rt}`);
      const child = new Child(rt);
      try {
        await child.send({ op: "open", name, options: { capacity: 6, fields: LIB_FIELDS } });
        const a = await child.send({ op: "register", name, label: "wörker ✓" });
        const b = await child.send({ op: "register", name, label: "b" });
        await child.send({
          op: "update",
          slot: a.slot,
          values: { arena_bytes: 900, rss_bytes: 4096, heap_bytes: 30 },
        });
        await child.send({ op: "update", slot: a.slot, values: { arena_bytes: 100, heap_bytes: 10 } });
        await child.send({ op: "set", slot: b.slot, value: 2 ** 53 - 1 });
        await child.send({ op: "update", slot: b.slot, values: { rss_bytes: 4000, heap_bytes: 0.5 } });

        const out = refOk(["read", name]);
        assert.equal(out.version, "1.1");
        assert.deepEqual(out.kinds, { arena_bytes: "thread", rss_bytes: "process", heap_bytes: "thread" });
        assert.deepEqual(out.rows.map((r: Json) => [r.slot, r.owner, r.pid, r.label, r.values, r.peaks]), [
          [a.slot, a.threadId, child.pid, "wörker ✓", { arena_bytes: 100, rss_bytes: 4096, heap_bytes: 10 }, {
            arena_bytes: 900,
            rss_bytes: 4096,
            heap_bytes: 30,
          }],
          [
            b.slot,
            b.threadId,
            child.pid,
            "b",
            { arena_bytes: 2 ** 53 - 1, rss_bytes: 4000, heap_bytes: 0.5 },
            {
              arena_bytes: 2 ** 53 - 1,
              rss_bytes: 4000,
              heap_bytes: 0.5,
            },
          ],
        ]);
        // One process: rss_bytes counted once, with its largest value.
        assert.deepEqual(out.totals, { arena_bytes: 2 ** 53 - 1 + 100, rss_bytes: 4096, heap_bytes: 10.5 });
        assert.equal(out.dead, 0);
        assert.equal(out.skipped, 0);
        // Every other word agrees with the library's own read.
        using reader = MemoryStatsRegistry.open(name, { readOnly: true });
        assert.deepEqual(out.rows.map(refRow), bySlot(reader.perThreadStats()).map(libRow));
      } finally {
        await child.close();
        cleanup(name);
      }
    });
  }

  it("reference and library writers share one table: claims never collide, owner ids are unique", {
    skip: NO_CC,
  }, async () => {
    const name = uniqueName("ref-share");
    const children = RUNTIMES.map((rt) => new Child(rt));
    try {
      using reg = MemoryStatsRegistry.open(name, { capacity: 4 });
      for (const c of children) await c.send({ op: "open", name });
      const refChurn = new Promise<Json>((resolve) => {
        const p = spawn(tool("plain"), ["churn", name, "400"], { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        p.stdout.on("data", (d) => (out += d));
        p.on("close", () => resolve(JSON.parse(out)));
      });
      const results = await Promise.all([
        refChurn,
        ...children.map((c) => c.send({ op: "churn", name, rounds: 400 }, 120_000)),
      ]);
      const ids = results.flatMap((r) => r.ids as number[]);
      for (const r of results) assert.equal(r.clashes, 0);
      assert.equal(new Set(ids).size, ids.length, "owner ids are unique");
      assert.ok(results.every((r) => r.ids.length > 0), "every writer claimed");
      assert.ok(Math.max(...ids) < refOk(["read", name]).nextOwnerId);
      assert.equal(reg.aggregateStats().activeThreads, 0);
    } finally {
      for (const c of children) await c.close();
      cleanup(name);
    }
  });

  for (const rt of CHILD_RUNTIMES) {
    it(
      `the reference reclaims a SIGKILLed ${rt} owner's slot, and no live one`,
      { skip: NO_CC },
      async () => {
        const name = uniqueName(`ref-reclaim-${rt}`);
        const victim = new Child(rt);
        const survivor = new Child(rt);
        let live: RefWriter | undefined;
        try {
          refOk(["create", name, "4", ...FIELDS]);
          live = await RefWriter.start([name, "live-ref", "1", "2", "3"]);
          await victim.send({ op: "open", name });
          await survivor.send({ op: "open", name });
          const dead = await victim.send({ op: "register", name, label: "victim" });
          const alive = await survivor.send({ op: "register", name, label: "survivor" });
          assert.equal(refOk(["reclaim", name]).count, 0, "everyone is alive");
          await victim.kill();
          // Readers leave the dead owner out at once, and count it.
          const before = refOk(["read", name]);
          assert.deepEqual(before.rows.map((r: Json) => r.label).sort(), ["live-ref", "survivor"]);
          assert.equal(before.dead, 1);
          const out = refOk(["reclaim", name]);
          assert.deepEqual(out.reclaimed, [{ slot: dead.slot, owner: dead.threadId }]);
          const after = await survivor.send({ op: "stats", name });
          assert.equal(after.aggregate.reclaimedCount, 1);
          assert.deepEqual(
            after.threads.map((t: Json) => t.slot).sort(),
            [alive.slot, live.info.slots[0].slot].sort(),
          );
          assert.equal(refOk(["reclaim", name]).count, 0);
        } finally {
          await live?.kill();
          await victim.kill();
          await survivor.close();
          cleanup(name);
        }
      },
    );

    it(`${rt} reclaims SIGKILLed reference writers' slots (active and mid-claim), and no live one`, {
      skip: NO_CC,
    }, async () => {
      const name = uniqueName(`lib-reclaim-${rt}`);
      const child = new Child(rt);
      const writers: RefWriter[] = [];
      try {
        refOk(["create", name, "6", ...FIELDS]);
        const [active, claiming, liveActive, liveClaiming] = [
          await RefWriter.start([name, "dies", "5", "5", "5"]),
          await RefWriter.start([name, "dies-claiming", "0", "0", "0", "--stop-in-claim"]),
          await RefWriter.start([name, "lives", "6", "6", "6"]),
          await RefWriter.start([name, "lives-claiming", "0", "0", "0", "--stop-in-claim"]),
        ];
        writers.push(active, claiming, liveActive, liveClaiming);
        assert.match(String(claiming.info.slots[0].owner), /^0x[89a-f]/, "a claim word");
        await child.send({ op: "open", name });
        assert.equal((await child.send({ op: "reclaim", name })).reclaimed, 0, "everyone is alive");
        await active.kill();
        await claiming.kill();
        assert.equal((await child.send({ op: "reclaim", name })).reclaimed, 2);
        const left = refOk(["read", name, "--all"]);
        assert.deepEqual(left.rows.map((r: Json) => [r.slot, r.owner, r.label]), [
          [liveActive.info.slots[0].slot, liveActive.info.slots[0].owner, "lives"],
        ]);
        assert.equal(left.claiming, 1, "the live claimer keeps its claim word");
        assert.equal(left.reclaimedCount, 2);
        await liveClaiming.close();
        assert.equal(refOk(["read", name, "--all"]).claiming, 0, "a claimer that exits gives its claim back");
      } finally {
        for (const w of writers) await w.kill();
        await child.close();
        cleanup(name);
      }
    });
  }

  it("a live claimer whose claim word has no start time (token bits 0) is never reclaimed", {
    skip: NO_CC,
  }, async () => {
    const name = uniqueName("ref-token0");
    let w: RefWriter | undefined;
    try {
      refOk(["create", name, "2", ...FIELDS]);
      w = await RefWriter.start([name, "no-start-time", "0", "0", "0", "--stop-in-claim", "--token", "0"]);
      using reg = MemoryStatsRegistry.open(name);
      assert.equal(reg.reclaim(), 0, "the library leaves it");
      assert.equal(refOk(["reclaim", name]).count, 0, "the reference leaves it");
      assert.equal(refOk(["read", name, "--all"]).claiming, 1);
    } finally {
      await w?.kill();
      cleanup(name);
    }
  });

  it("the reference and the library classify bad headers alike", { skip: NO_CC }, () => {
    // [what, bytes to write at offset, offset, the library's code, the reference's code]
    const cases: [string, (n: string) => void, string, string][] = [
      [
        "a small file without magic",
        (n) => rewrite(n, new TextEncoder().encode("hello"), 0, 5),
        "BAD_MAGIC",
        "BAD_MAGIC",
      ],
      [
        "a small file that starts like one",
        (n) => rewrite(n, new TextEncoder().encode("MEMS"), 0, 4),
        "TRUNCATED",
        "TRUNCATED",
      ],
      ["the other byte order", (n) => rewrite(n, u32(0x04030201), 12), "BYTE_ORDER", "BYTE_ORDER"],
      ["major version 2", (n) => rewrite(n, new Uint8Array([2, 0]), 8), "VERSION", "VERSION"],
      ["state 7", (n) => rewrite(n, u32(7), 32), "SCHEMA", "CORRUPT"],
      ["a bad field name", (n) => rewrite(n, new TextEncoder().encode("9x"), 128), "SCHEMA", "CORRUPT"],
      [
        "a field named __proto__",
        (n) => rewrite(n, new TextEncoder().encode("__proto__\0"), 128),
        "SCHEMA",
        "CORRUPT",
      ],
      ["cut short", (n) => rewrite(n, new Uint8Array(0), 0, 400), "TRUNCATED", "TRUNCATED"],
    ];
    for (const [what, damage, libCode, refCode] of cases) {
      const name = uniqueName("ref-bad");
      try {
        refOk(["create", name, "4", ...FIELDS]);
        damage(name);
        let code = "none";
        try {
          MemoryStatsRegistry.open(name, { readOnly: true, openTimeoutMs: 0 }).close();
        } catch (e) {
          code = (e as { code?: string }).code ?? String(e);
        }
        assert.equal(code, libCode, `library, ${what}`);
        assert.equal(ref(["read", name]).error?.code, refCode, `reference, ${what}`);
      } finally {
        cleanup(name);
      }
    }
  });

  it(
    "stress at full speed: writers, readers and reclaimers see no torn copy",
    { skip: NO_CC || C_ONLY },
    () => {
      const r = spawnSync(tool("plain"), ["stress", uniqueName("ref-stress"), "--seconds", "2"], {
        encoding: "utf8",
        timeout: 120_000,
      });
      const out = JSON.parse(r.stdout);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.equal(out.ok, true);
      assert.equal(out.torn, 0, out.firstTorn);
      assert.ok(out.abandoned > 0 && out.reclaimedCount === out.abandoned);
    },
  );

  for (const reclaimers of [1, 0]) {
    it(
      `ThreadSanitizer: the reference stress (${
        reclaimers ? "reclaimer threads" : "claims reclaim"
      }) reports nothing`,
      { skip: NO_TSAN || C_ONLY },
      () => {
        const r = spawnSync(
          tool("tsan"),
          [
            "stress",
            uniqueName("ref-tsan"),
            "--writers",
            "4",
            "--readers",
            "2",
            "--reclaimers",
            String(reclaimers),
            "--seconds",
            "3",
          ],
          { encoding: "utf8", timeout: 300_000, env: { ...process.env, TSAN_OPTIONS: "exitcode=66" } },
        );
        assert.doesNotMatch(r.stderr, /ThreadSanitizer/, r.stderr.slice(0, 4000));
        assert.equal(r.status, 0, r.stdout + r.stderr.slice(0, 4000));
        const out = JSON.parse(r.stdout);
        assert.equal(out.torn, 0, out.firstTorn);
        assert.ok(out.claims > 0 && out.rowsChecked > 0 && out.abandoned > 0);
        assert.equal(out.reclaimedCount, out.abandoned);
        if (reclaimers === 0) assert.equal(out.reclaimedByThreads, 0, "claims did all the reclaiming");
      },
    );
  }

  it(
    "ThreadSanitizer: the shim's ms_scan in every mode against reference writers: nothing reported, no torn copy, no live owner judged dead",
    {
      skip: NO_TSAN || C_ONLY,
    },
    () => {
      const r = spawnSync(
        tool("shim-tsan"),
        // No reclaimer threads: dead owners' slots stay until claims need them, for the shim to judge.
        [
          "stress",
          uniqueName("shim-tsan"),
          "--writers",
          "4",
          "--readers",
          "1",
          "--shim-readers",
          "2",
          "--reclaimers",
          "0",
          "--seconds",
          "3",
        ],
        { encoding: "utf8", timeout: 300_000, env: { ...process.env, TSAN_OPTIONS: "exitcode=66" } },
      );
      assert.doesNotMatch(r.stderr, /ThreadSanitizer/, r.stderr.slice(0, 4000));
      assert.equal(r.status, 0, r.stdout + r.stderr.slice(0, 4000));
      const out = JSON.parse(r.stdout);
      assert.equal(out.torn, 0, out.firstTorn);
      assert.ok(out.shimRows > 0, "the shim returned rows");
      assert.ok(out.shimEvidenceRows > 0, "the shim returned SCAN_EVIDENCE rows");
      assert.ok(out.shimTotalsScans > 0, "the shim counted and summed (SCAN_NO_RECORDS)");
      assert.ok(out.shimDeadVerdicts > 0, "the shim judged dead owners (none of them a running writer)");
    },
  );
});

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** Overwrite bytes of a segment's file at `offset`; with `size`, truncate it to that many bytes first. */
function rewrite(name: string, bytes: Uint8Array, offset: number, size?: number): void {
  const path = `/dev/shm${name}`;
  if (size !== undefined) spawnSync("truncate", ["-s", String(size), path]);
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}
