/**
 * The benchmark of memstats-shm, in Bun, Deno and Node, written to
 * `BENCHMARKS.md`.
 *
 *     bun scripts/bench.ts              # every runtime, one after the other
 *     deno run -A scripts/bench.ts      # the same
 *     node scripts/bench.ts             # the same
 *     bun scripts/bench.ts --smoke --out /tmp/b.md --runtimes bun   # a few iterations
 *
 * Options: `--out FILE` (default BENCHMARKS.md), `--runtimes bun,deno,node`,
 * `--only hot,readers,lifecycle,roundtrip,writers,collect,memory`,
 * `--quiet SECONDS` (wait for that many seconds of idle CPUs before each
 * runtime's suite; default 15, 0 with `--smoke`), `--keep DIR` (keep the
 * raw results there), `--render DIR` (write the report again from kept
 * results, measuring nothing), `--protocol [--before DIR]` (add "The read
 * protocol", against an earlier checkout), `--serve-load` (add `memstats
 * serve` under load).
 *
 * The driver runs the suite once per runtime, each in a fresh child process
 * (`--suite --json FILE`), sequentially so they never compete for the two
 * cores, then merges the results into one Markdown file. Every comparison
 * is a ratio of figures measured side by side in the same suite run: the
 * update loops are interleaved round by round and each ratio is the median
 * of per-round ratios.
 *
 * Harness: ns-scale update loops are timed by hand, each in its own function
 * (one call site per loop, so V8 never sees a megamorphic site inside a
 * measured loop) over 2M updates per sample; µs-scale calls use mitata's
 * `measure()` (auto-batched, p25/p50/p75). Cross-process figures come from
 * child processes (`bench_child.ts`, `bench_cluster.ts`). What is measured
 * and how results are keyed is in `bench_types.ts`; `bench_report.ts`
 * renders them.
 *
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release as kernelRelease, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import { do_not_optimize, measure } from "mitata";
import { getOrRegisterSlot, memoryRegistry, MemoryStatsRegistry, updateArenaStats } from "../mod.ts";
import { OpenKind, shim } from "../src/ffi/mod.ts";
import { geometry, S, slotOffset } from "../src/layout.ts";
import { openSegment } from "../src/segment.ts";
import { CONTROL_BYTES, PADDED_STRIDE, UNPADDED_STRIDE } from "./bench_child.ts";
import { renderMarkdown } from "./bench_report.ts";
import {
  type CollectResult,
  currentRuntime,
  fromMitata,
  HOT_RATIOS,
  type HotLoop,
  type HotRatio,
  type LifecycleOp,
  type MachineInfo,
  mitataOptions,
  type RoundTripMode,
  type Runtime,
  RUNTIMES,
  type Stat,
  stat,
  type SuiteResult,
  type WriterLayout,
} from "./bench_types.ts";

/** Absolute path of the repository root. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** The runtime running this file. */
export const HERE: Runtime = currentRuntime();

// ---------------------------------------------------------------- helpers

/** Machine-wide busy and total CPU time, in clock ticks (/proc/stat). */
function machineTicks(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  const busy = user + nice + system + irq + softirq + (steal ?? 0);
  return { busy, total: busy + idle + iowait };
}

/** CPU time of this process and its reaped children, in clock ticks (/proc/self/stat). */
function ownTicks(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  return f[11] + f[12] + f[13] + f[14]; // utime stime cutime cstime (fields 14-17)
}

async function idlePercent(ms: number): Promise<number> {
  const a = machineTicks();
  await new Promise((r) => setTimeout(r, ms));
  const b = machineTicks();
  return (100 * (b.total - a.total - (b.busy - a.busy))) / Math.max(1, b.total - a.total);
}

// Every segment is named /mst-bench-<run tag>-<what>-<pid>-<random> and unlinked after use;
// the smoke test sets the run tag to find anything left behind.
const RUN_TAG = (process.env.MEMSTATS_BENCH_TAG ?? "run").replace(/[^A-Za-z0-9]/g, "").slice(0, 16) || "run";

function uniqueName(tag: string): string {
  return `/mst-bench-${RUN_TAG}-${tag}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

function unlinkQuietly(name: string): void {
  try {
    MemoryStatsRegistry.unlink(name);
  } catch { /* gone */ }
}

function runtimeBin(rt: Runtime): string {
  return `${ROOT}node_modules/.bin/${rt}`;
}

function runArgs(rt: Runtime, file: string, args: string[]): [string, string[]] {
  return rt === "deno"
    ? [runtimeBin("deno"), ["run", "-A", file, ...args]]
    : [runtimeBin(rt), [file, ...args]];
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

function log(msg: string): void {
  process.stderr.write(`[bench ${HERE}] ${msg}\n`);
}

/** A child process speaking JSON lines on stdout. */
class Proc {
  readonly child: ReturnType<typeof spawn>;
  readonly exited: Promise<number | null>;
  #lines: string[] = [];
  #waiters: ((l: string) => void)[] = [];
  stderr = "";

  constructor(rt: Runtime, file: string, args: string[]) {
    const [cmd, argv] = runArgs(rt, file, args);
    this.child = spawn(cmd, argv, { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"], env: process.env });
    this.exited = new Promise((r) => this.child.on("exit", (code) => r(code)));
    this.child.stderr!.on("data", (d) => (this.stderr += d));
    createInterface({ input: this.child.stdout! }).on("line", (l) => {
      const w = this.#waiters.shift();
      if (w) w(l);
      else this.#lines.push(l);
    });
  }

  /** The next JSON line (rejects on `{error}`, on exit, or after `ms`). */
  next<T = Record<string, unknown>>(ms = 120_000): Promise<T> {
    const ready = this.#lines.shift();
    const parse = (l: string): T => {
      const v = JSON.parse(l);
      if (v.error) throw new Error(`child: ${v.error}`);
      return v as T;
    };
    if (ready !== undefined) return Promise.resolve().then(() => parse(ready));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child timed out; stderr: ${this.stderr}`)), ms);
      this.#waiters.push((l) => {
        clearTimeout(timer);
        try {
          resolve(parse(l));
        } catch (e) {
          reject(e);
        }
      });
      this.exited.then((code) => {
        setTimeout(() => {
          clearTimeout(timer);
          reject(new Error(`child exited (${code}); stderr: ${this.stderr}`));
        }, 100);
      });
    });
  }

  async close(): Promise<void> {
    this.child.stdin!.end();
    await this.exited;
  }
}

const CHILD = `${ROOT}scripts/bench_child.ts`;
const CLUSTER = `${ROOT}scripts/bench_cluster.ts`;

// ---------------------------------------------------------------- 1. update fast path

type Loop = (n: number) => void;

/** The measured update loops; each is its own function so each call site stays monomorphic. */
function hotLoops(seg: ReturnType<typeof openSegment>, reg: MemoryStatsRegistry): Record<HotLoop, Loop> {
  const slot = reg.registerSlot({ label: "bench-set" })!;
  const idx = reg.register({ label: "bench-updateArena" })!;
  getOrRegisterSlot({ label: "bench-default" });
  const f64 = seg.f64;
  const u64 = seg.u64;
  // Scratch words in a slot nobody owns (the last one), so no reader counts them.
  const scratch = slotOffset(seg.geometry, seg.geometry.capacity - 1) + S.values;
  const fi = scratch / 8;
  const ui = scratch / 8 + 1;
  return {
    floor: (n) => {
      for (let i = 0; i < n; i++) f64[fi] = i;
    },
    naive: (n) => {
      for (let i = 0; i < n; i++) Atomics.store(u64, ui, BigInt(i));
    },
    set: (n) => {
      for (let i = 0; i < n; i++) slot.set(i);
    },
    updateArenaStats: (n) => {
      for (let i = 0; i < n; i++) updateArenaStats(i);
    },
    updateArena: (n) => {
      for (let i = 0; i < n; i++) reg.updateArena(idx, i);
    },
  };
}

async function hotPath(smoke: boolean, r: SuiteResult): Promise<void> {
  const name = uniqueName("hot");
  const defaultName = uniqueName("default");
  process.env.MEMSTATS_SEGMENT = defaultName;
  const reg = MemoryStatsRegistry.open(name, { capacity: 64 });
  const seg = openSegment(name);
  try {
    const loops = hotLoops(seg, reg);
    const names = Object.keys(loops) as HotLoop[];
    const ops = smoke ? 2_000 : 2_000_000;
    const rounds = smoke ? 2 : 21;
    // Optimise every loop first, letting the coarse clock tick (every 100 ms) in between: its first
    // ticks invalidate code that took the clock for a constant, which must not happen mid-measurement.
    for (let w = 0; w < 4; w++) {
      for (const k of names) loops[k](smoke ? ops : ops / 2);
      await new Promise((res) => setTimeout(res, smoke ? 1 : 120));
    }
    const times = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<HotLoop, number[]>;
    for (let round = 0; round < rounds; round++) {
      await tick(); // let the coarse clock tick, as it would between bursts of updates
      for (let j = 0; j < names.length; j++) {
        const k = names[(round + j) % names.length]; // rotate the order: no position bias
        const t0 = performance.now();
        loops[k](ops);
        times[k].push(((performance.now() - t0) * 1e6) / ops);
      }
    }
    const per = (a: HotLoop, b: HotLoop) => stat(times[a].map((x, i) => x / times[b][i]));
    r.hot = {
      opsPerSample: ops,
      rounds,
      rows: Object.fromEntries(names.map((k) => [k, stat(times[k])])),
      ratios: Object.fromEntries(
        (Object.keys(HOT_RATIOS) as HotRatio[]).map((k) => [k, per(HOT_RATIOS[k].over, HOT_RATIOS[k].under)]),
      ),
    };
    // The heap over 10 million updates: V8's and JSC's allocation counters.
    const heapOps = smoke ? 10_000 : 10_000_000;
    r.heap = [];
    for (const k of ["floor", "set", "updateArenaStats", "naive"] as const) {
      await tick();
      const h0 = v8.getHeapStatistics();
      const chunk = Math.min(heapOps, 1_000_000);
      for (let done = 0; done < heapOps; done += chunk) loops[k](chunk);
      const h1 = v8.getHeapStatistics();
      r.heap.push({
        loop: k,
        ops: heapOps,
        allocatedBytes: h1.total_allocated_bytes - h0.total_allocated_bytes,
        usedBefore: h0.used_heap_size,
        usedAfter: h1.used_heap_size,
      });
    }
  } finally {
    seg.unmap();
    reg.close();
    memoryRegistry().close();
    unlinkQuietly(name);
    unlinkQuietly(defaultName);
  }
}

// ---------------------------------------------------------------- mitata

async function m(fn: () => unknown, smoke: boolean): Promise<Stat> {
  return fromMitata(await measure(fn, mitataOptions(smoke)));
}

// ---------------------------------------------------------------- 2. readers (+ reader RSS)

async function readers(smoke: boolean, r: SuiteResult): Promise<void> {
  r.readers = [];
  r.memory.rss = [];
  const sizes = smoke ? [64, 1024] : [64, 1024, 65536];
  const cases = sizes.map((c) => ({ capacity: c, active: c }));
  cases.push({ capacity: sizes[sizes.length - 1], active: 64 }); // free slots cost a scan too
  for (const { capacity, active } of cases) {
    const name = uniqueName(`rd${capacity}`);
    const w = MemoryStatsRegistry.open(name, { capacity });
    const rd = MemoryStatsRegistry.open(name, { readOnly: true });
    try {
      for (let i = 0; i < active; i++) w.registerSlot({ label: `t${i}` })!.set(i * 4096);
      if (rd.aggregateStats().activeThreads !== active) throw new Error("reader miscounted");
      log(`readers: ${active} active of ${capacity}`);
      r.readers.push({
        fn: "aggregateStats",
        capacity,
        active,
        stat: await m(() => rd.aggregateStats(), smoke),
      });
      r.readers.push({
        fn: "perThreadStats",
        capacity,
        active,
        stat: await m(() => {
          let n = 0;
          for (const _ of rd.perThreadStats()) n++;
          return n;
        }, smoke),
      });
      r.readers.push({ fn: "snapshot", capacity, active, stat: await m(() => rd.snapshot().count, smoke) });
      if (active === capacity && (capacity === 64 || capacity === sizes[sizes.length - 1])) {
        const c = new Proc(HERE, CHILD, ["rss", "reader", name]);
        const a = await c.next<
          {
            status: Record<string, number>;
            afterPerThread: Record<string, number>;
            openMs: number;
            slots: number;
          }
        >();
        await c.exited;
        r.memory.rss.push({ probe: "reader", capacity, status: a.status, openMs: a.openMs, slots: a.slots });
        r.memory.rss.push({ probe: "readerRecords", capacity, status: a.afterPerThread, slots: a.slots });
      }
    } finally {
      rd.close();
      w.close();
      unlinkQuietly(name);
    }
  }
  const c = new Proc(HERE, CHILD, ["rss", "bare"]);
  const a = await c.next<{ status: Record<string, number> }>();
  await c.exited;
  r.memory.rss.unshift({ probe: "bare", capacity: 0, status: a.status });
}

// ---------------------------------------------------------------- 3. register/release, open

async function lifecycle(smoke: boolean, r: SuiteResult): Promise<void> {
  r.lifecycle = [];
  const name = uniqueName("life");
  const reg = MemoryStatsRegistry.open(name, { capacity: 64 });
  try {
    const time = async (op: LifecycleOp, fn: () => unknown) =>
      r.lifecycle.push({ op, stat: await m(fn, smoke) });
    const keep = reg.registerSlot({ label: "held" })!;
    await time("registerSlotHeld", () => reg.registerSlot()!.release());
    await time("registerIndexHeld", () => reg.release(reg.register()!));
    keep.release();
    await time("registerSlotOnly", () => reg.registerSlot()!.release());
    await time("open", () => MemoryStatsRegistry.open(name).close());
    await time("openReadOnly", () => MemoryStatsRegistry.open(name, { readOnly: true }).close());
    // For reference: the cost of one small typed-array allocation in this runtime.
    await time("allocation", () => do_not_optimize(new Float64Array(8)));
  } finally {
    reg.close();
    unlinkQuietly(name);
  }
}

// ---------------------------------------------------------------- 4. cross-process round trip

async function roundTrip(smoke: boolean, r: SuiteResult): Promise<void> {
  r.roundTrip = [];
  for (const mode of ["raw", "api"] as RoundTripMode[]) {
    const name = uniqueName(`rt${mode}`);
    const reg = MemoryStatsRegistry.open(name, { capacity: 64 });
    const rounds = smoke ? 200 : mode === "raw" ? 200_000 : 50_000;
    const batch = smoke ? 100 : 1000;
    try {
      log(`round trip (${mode})`);
      const pong = new Proc(HERE, CHILD, ["pingpong", name, "pong", mode, String(rounds), String(batch)]);
      const ping = new Proc(HERE, CHILD, ["pingpong", name, "ping", mode, String(rounds), String(batch)]);
      const res = await ping.next<{ samples: number[] }>();
      await pong.next();
      await Promise.all([ping.exited, pong.exited]);
      r.roundTrip.push({ mode, stat: stat(res.samples), rounds });
    } finally {
      reg.close();
      unlinkQuietly(name);
    }
  }
}

// ---------------------------------------------------------------- 5. two writers

async function writers(smoke: boolean, r: SuiteResult): Promise<void> {
  r.writers = [];
  const nat = shim();
  const ops = smoke ? 100_000 : 100_000_000;
  const reps = smoke ? 1 : 5;
  const layouts: { layout: WriterLayout; stride: number }[] = [
    { layout: "api", stride: PADDED_STRIDE },
    { layout: "padded", stride: PADDED_STRIDE },
    { layout: "unpadded", stride: UNPADDED_STRIDE },
  ];
  for (const L of layouts) {
    for (const n of [1, 2]) {
      const nsPerOp: number[] = [];
      const total: number[] = [];
      for (let rep = 0; rep < reps; rep++) {
        const control = uniqueName("ctl");
        const segName = uniqueName("w");
        const fd = nat.ms_open(control, OpenKind.createExclusive, 0o600);
        if (fd < 0) throw new Error(`create ${control}: ${fd}`);
        nat.ms_ftruncate(fd, CONTROL_BYTES);
        const address = nat.ms_map(fd, CONTROL_BYTES, 0);
        nat.ms_close(fd);
        if (address < 0) throw new Error(`map: ${address}`);
        const map = { buffer: nat.arrayBuffer(address, CONTROL_BYTES) };
        const reg = L.layout === "api" ? MemoryStatsRegistry.open(segName, { capacity: 64 }) : undefined;
        try {
          const ctl = new Int32Array(map.buffer, 0, 16);
          const kids = Array.from(
            { length: n },
            (_, k) => new Proc(HERE, CHILD, ["writer", control, L.layout, segName, String(k), String(ops)]),
          );
          for (const k of kids) await k.next();
          Atomics.store(ctl, 0, 1);
          const res = await Promise.all(
            kids.map((k) => k.next<{ ns: number; start: number; end: number }>()),
          );
          await Promise.all(kids.map((k) => k.exited));
          if (process.env.BENCH_DEBUG) log(JSON.stringify(res));
          const slowest = Math.max(...res.map((x) => x.ns));
          nsPerOp.push(...res.map((x) => x.ns / ops));
          total.push((n * ops) / slowest * 1e3); // million updates per second, all writers
        } finally {
          reg?.close();
          nat.ms_unmap(address, CONTROL_BYTES);
          nat.ms_unlink(control);
          unlinkQuietly(segName);
        }
      }
      log(`writers: ${L.layout} x${n}`);
      r.writers.push({
        layout: L.layout,
        stride: L.stride,
        writers: n,
        opsPerWriter: ops,
        nsPerOp: stat(nsPerOp),
        totalMops: stat(total),
      });
    }
  }
}

// ---------------------------------------------------------------- 6. collecting from 8 processes

async function collect(smoke: boolean, r: SuiteResult): Promise<void> {
  const workers = smoke ? 2 : 8;
  const calls = smoke ? 3 : 300;
  const name = uniqueName("col");
  // The segment outlives the cluster run, so it is unlinked here even if the cluster dies.
  MemoryStatsRegistry.open(name, { capacity: 64 }).close();
  try {
    log(`memstats-shm and prom-client clusterMetrics() over the same ${workers} cluster workers`);
    const args = [String(workers), String(calls), name, ...(smoke ? ["--smoke"] : [])];
    const c = new Proc(HERE, CLUSTER, args);
    const res = await c.next<CollectResult>(600_000);
    await c.exited;
    r.collect = { workers, ...res };
  } finally {
    unlinkQuietly(name);
  }
}

// ---------------------------------------------------------------- 7. memory

function segmentSizes(r: SuiteResult): void {
  r.memory.sizes = [];
  for (const capacity of [64, 1024, 65536, 1 << 20]) {
    for (const fields of [1, 4, 32]) {
      r.memory.sizes.push({ capacity, fields, bytes: geometry(capacity, fields).totalSize, checked: false });
    }
  }
  // Check a few against real segments (the file in /dev/shm, and info.size).
  for (const s of r.memory.sizes.filter((x) => x.capacity <= 1024 && x.fields !== 32)) {
    const name = uniqueName("sz");
    const fields = Array.from({ length: s.fields }, (_, i) => `f${i}`);
    const reg = MemoryStatsRegistry.open(name, { capacity: s.capacity, fields });
    try {
      const file = `/dev/shm${name}`;
      const onDisk = existsSync(file) ? statSync(file).size : reg.info.size;
      s.checked = reg.info.size === s.bytes && onDisk === s.bytes;
    } finally {
      reg.close();
      unlinkQuietly(name);
    }
  }
}

// ---------------------------------------------------------------- suite

function runtimeInfo(): { version: string; engine: string } {
  const g = globalThis as unknown as {
    Bun?: { version: string; revision: string };
    Deno?: { version: { deno: string; v8: string } };
  };
  if (g.Bun) {
    return { version: `bun ${g.Bun.version}`, engine: `JavaScriptCore (bun ${g.Bun.revision.slice(0, 9)})` };
  }
  if (g.Deno) return { version: `deno ${g.Deno.version.deno}`, engine: `V8 ${g.Deno.version.v8}` };
  return { version: `node ${process.versions.node}`, engine: `V8 ${process.versions.v8}` };
}

const SECTIONS = ["hot", "readers", "lifecycle", "roundtrip", "writers", "collect", "memory"] as const;

/** Run every section (or those in `only`) in this runtime. */
export async function runSuite(smoke: boolean, only: readonly string[] = []): Promise<SuiteResult> {
  const t0 = performance.now();
  const info = runtimeInfo();
  const r: SuiteResult = {
    runtime: HERE,
    version: info.version,
    engine: info.engine,
    smoke,
    loadBefore: loadavg(),
    loadAfter: [],
    othersCpuPercent: NaN,
    idleBeforePercent: await idlePercent(smoke ? 100 : 3000),
    startedAt: new Date().toISOString(),
    seconds: 0,
    hot: { opsPerSample: 0, rounds: 0, rows: {}, ratios: {} },
    heap: [],
    readers: [],
    lifecycle: [],
    roundTrip: [],
    writers: [],
    collect: { workers: 0, ours: [], prom: { stat: stat([]), series: 0, calls: 0 } },
    memory: { sizes: [], rss: [] },
  };
  const m0 = machineTicks();
  const o0 = ownTicks();
  const want = (s: string) => only.length === 0 || only.includes(s);
  if (want("hot")) {
    log("update fast path");
    await hotPath(smoke, r);
  }
  if (want("readers")) await readers(smoke, r);
  if (want("lifecycle")) {
    log("register/release, open");
    await lifecycle(smoke, r);
  }
  if (want("roundtrip")) await roundTrip(smoke, r);
  if (want("writers")) await writers(smoke, r);
  if (want("collect")) await collect(smoke, r);
  if (want("memory")) segmentSizes(r);
  r.loadAfter = loadavg();
  const m1 = machineTicks();
  r.othersCpuPercent = Math.max(
    0,
    (100 * ((m1.busy - m0.busy) - (ownTicks() - o0))) / Math.max(1, m1.total - m0.total),
  );
  r.seconds = (performance.now() - t0) / 1000;
  return r;
}

// ---------------------------------------------------------------- driver

function machineInfo(): MachineInfo {
  // `git rev-parse` also knows a worktree, whose .git is a file naming the real one.
  const commit = spawnSyncText("git", ["rev-parse", "HEAD"]).trim() || "unknown";
  let dirty = false;
  try {
    const r = spawnSyncText("git", ["status", "--porcelain", "--", "src", "mod.ts", "scripts"]);
    dirty = r.trim().length > 0;
  } catch { /* no git */ }
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: `Linux ${kernelRelease()}`,
    commit: commit.slice(0, 12),
    dirty,
    date: new Date().toISOString(),
  };
}

function spawnSyncText(cmd: string, args: string[]): string {
  return spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8" }).stdout ?? "";
}

function parseArgs(argv: string[]): {
  smoke: boolean;
  suite: boolean;
  json?: string;
  out: string;
  runtimes: Runtime[];
  only: string[];
  quiet: number;
  keep?: string;
  render?: string;
  protocol: boolean;
  before?: string;
  serveLoad: boolean;
} {
  const get = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const only = (get("--only") ?? "").split(",").filter(Boolean);
  for (const s of only) {
    if (!(SECTIONS as readonly string[]).includes(s)) {
      throw new Error(`unknown section ${s}; one of ${SECTIONS.join(", ")}`);
    }
  }
  const runtimes = (get("--runtimes") ?? RUNTIMES.join(",")).split(",").filter(Boolean) as Runtime[];
  for (const rt of runtimes) {
    if (!RUNTIMES.includes(rt)) throw new Error(`unknown runtime ${rt}; one of ${RUNTIMES.join(", ")}`);
  }
  return {
    smoke: argv.includes("--smoke"),
    suite: argv.includes("--suite"),
    json: get("--json"),
    out: get("--out") ?? `${ROOT}BENCHMARKS.md`,
    runtimes,
    only,
    // Seconds of idle CPUs to wait for before each runtime's suite (0: start at once).
    quiet: Number(get("--quiet") ?? (argv.includes("--smoke") ? 0 : 15)),
    keep: get("--keep"),
    render: get("--render"),
    protocol: argv.includes("--protocol"),
    before: get("--before"),
    serveLoad: argv.includes("--serve-load"),
  };
}

/** Wait until the CPUs have been at least 90% idle for `seconds` in a row (at most `maxMinutes`). */
async function waitQuiet(seconds: number, maxMinutes = 30): Promise<{ waited: number; quiet: boolean }> {
  const t0 = Date.now();
  let run = 0;
  while (run < seconds) {
    if (Date.now() - t0 > maxMinutes * 60_000) return { waited: (Date.now() - t0) / 1000, quiet: false };
    run = (await idlePercent(1000)) >= 90 ? run + 1 : 0;
  }
  return { waited: (Date.now() - t0) / 1000, quiet: true };
}

async function drive(o: ReturnType<typeof parseArgs>): Promise<void> {
  if (o.render) {
    // Render kept results again (after a change to the report's wording), without measuring.
    const kept = JSON.parse(readFileSync(join(o.render, "run.json"), "utf8"));
    writeFileSync(o.out, renderMarkdown(kept.machine, kept.results, kept.command) + (kept.extra ?? ""));
    process.stderr.write(`wrote ${o.out} from ${o.render}\n`);
    return;
  }
  const machine = machineInfo(); // the commit and time the run started from
  if (o.keep) mkdirSync(o.keep, { recursive: true });
  const dir = o.keep ?? mkdtempSync(join(tmpdir(), "memstats-bench-"));
  const results: SuiteResult[] = [];
  try {
    for (const rt of o.runtimes) {
      if (o.quiet > 0) {
        process.stderr.write(`waiting for ${o.quiet} s of idle CPUs before the ${rt} suite...\n`);
        const q = await waitQuiet(o.quiet);
        process.stderr.write(
          q.quiet ? `quiet after ${q.waited.toFixed(0)} s\n` : "still busy; running anyway\n",
        );
      }
      const json = join(dir, `${rt}.json`);
      const args = ["--suite", "--json", json, ...(o.smoke ? ["--smoke"] : [])];
      if (o.only.length) args.push("--only", o.only.join(","));
      const [cmd, argv] = runArgs(rt, `${ROOT}scripts/bench.ts`, args);
      process.stderr.write(`\n=== ${rt}: ${[cmd, ...argv].join(" ")}\n`);
      const code = await new Promise<number | null>((resolve) => {
        const c = spawn(cmd, argv, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"], env: process.env });
        c.on("exit", (code) => resolve(code));
      });
      if (code !== 0 || !existsSync(json)) throw new Error(`${rt} suite failed (exit ${code})`);
      results.push(JSON.parse(readFileSync(json, "utf8")));
    }
  } finally {
    if (!o.keep) rmSync(dir, { recursive: true, force: true });
  }
  const launcher = HERE === "deno" ? "deno run -A scripts/bench.ts" : `${HERE} scripts/bench.ts`;
  const command = [launcher, ...process.argv.slice(2)].join(" ").trim();
  const extra = await extraSections(o);
  if (o.keep) writeFileSync(join(dir, "run.json"), JSON.stringify({ machine, results, command, extra }));
  const md = renderMarkdown(machine, results, command) + extra;
  writeFileSync(o.out, md);
  process.stderr.write(`\nwrote ${o.out}\n`);
}

/**
 * The sections measured by their own scripts, after the suites: the read
 * protocol (`--protocol`, against `--before DIR` when given) and `memstats
 * serve` under load (`--serve-load`).
 */
async function extraSections(o: ReturnType<typeof parseArgs>): Promise<string> {
  let md = "";
  if (o.protocol) {
    const { protocolSection } = await import("./bench_protocol.ts");
    process.stderr.write("\n=== the read protocol\n");
    md += "\n" + protocolSection(o.before, o.smoke, o.runtimes) + "\n";
  }
  if (o.serveLoad) {
    const { loadTable, serveLoad } = await import("./serve_load.ts");
    const slots = o.smoke ? 1024 : 65_536;
    const runs = [];
    for (const runtime of ["bun", "deno"] as const) {
      process.stderr.write(`\n=== memstats serve under load (${runtime})\n`);
      runs.push(await serveLoad({ runtime, slots, fields: 4, requests: 20, rounds: o.smoke ? 1 : 3 }));
    }
    runs.push(
      await serveLoad({ runtime: "bun", slots, fields: 4, requests: 20, rounds: 1, totalsOnly: true }),
    );
    md += "\n## memstats serve under load\n\n" +
      `${
        slots.toLocaleString("en-US")
      } live slots of 4 fields, 20 concurrent \`/metrics\` requests (one \`curl\` ` +
      "process each) per round, measured by `scripts/serve_load.ts`: the time until every response is " +
      "complete, and the server's resident memory (sampled every 20 ms, and the kernel's high-water mark).\n\n" +
      loadTable(runs) + "\n";
  }
  return md;
}

if (import.meta.main) {
  const o = parseArgs(process.argv.slice(2));
  if (o.suite) {
    const r = await runSuite(o.smoke, o.only);
    if (o.json) writeFileSync(o.json, JSON.stringify(r, null, 1));
    else console.log(JSON.stringify(r, null, 1));
    process.exit(0);
  } else {
    await drive(o);
    process.exit(0);
  }
}
