/**
 * Child processes of `scripts/bench.ts`, one role per process, under Bun,
 * Deno or Node. Arguments come on the command line; results go to stdout as one JSON
 * line each. Roles:
 *
 * - `pingpong <segment> <ping|pong> <api|raw> <rounds> <batch>`: two processes
 *   bounce a counter through their two slots; `ping` times the round trips.
 * - `writer <control> <api|padded|unpadded> <segment|-> <slot> <ops>`: one
 *   writer of the two-writer test; waits for the start word, then updates
 *   its own slot `ops` times and reports the elapsed time.
 * - `rss <bare|reader> [segment]`: resident memory of a bare runtime, or of a
 *   process that opened `segment` read-only, after `aggregateStats()` and
 *   after `perThreadStats()`.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { OpenKind, shim } from "../src/ffi/mod.ts";
import { S, slotOffset, slotStrideFor } from "../src/layout.ts";
import { openSegment } from "../src/segment.ts";

/** Bytes of the control segment of the two-writer test: a control line, then raw slots. */
export const CONTROL_BYTES = 65536;
/** Where raw (benchmark-only) slots start in the control segment. */
export const RAW_BASE = 4096;
/** The stride of the benchmark-only unpadded layout: value and peak, 16 bytes. */
export const UNPADDED_STRIDE = 16;
/** The stride of our layout for one field (whole cache lines). */
export const PADDED_STRIDE: number = slotStrideFor(1);

function say(obj: unknown): void {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** VmRSS and its parts from /proc/self/status, in KiB. */
export function procStatus(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync("/proc/self/status", "utf8").split("\n")) {
    const m = /^(VmRSS|RssAnon|RssFile|RssShmem|VmHWM):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** How long a pingpong side waits for its peer, or for the peer's next value, before it gives up. */
const STALL_MS = 10_000;

async function findPeer(reg: MemoryStatsRegistry, label: string): Promise<number> {
  const until = performance.now() + STALL_MS;
  while (performance.now() < until) {
    for (const t of reg.perThreadStats()) if (t.label === label) return t.slot;
    await sleep(1);
  }
  throw new Error(`pingpong: no ${label} in the segment after ${STALL_MS} ms`);
}

const STOP = 1 << 20;

async function pingpong(
  name: string,
  role: string,
  mode: string,
  rounds: number,
  batch: number,
): Promise<void> {
  const reg = MemoryStatsRegistry.open(name);
  const me = reg.registerSlot({ label: role })!;
  const peer = await findPeer(reg, role === "ping" ? "pong" : "ping");
  // raw: the peer's value read with Atomics.load on the high word of its f64
  // (for integers below 2^21 the low word is zero), as a scanning reader does.
  const seg = openSegment(name);
  const hiWord = (slotOffset(seg.geometry, peer) + S.values) / 4 + 1;
  const cv = new Float64Array(1);
  const cu = new Uint32Array(cv.buffer);
  const readRaw = (): number => {
    cu[1] = Atomics.load(seg.u32, hiWord);
    return cv[0];
  };
  const readApi = (): number => reg.slotStats(peer)?.arenaBytes ?? -1;
  const read = mode === "raw" ? readRaw : readApi;
  // Neither side may spin forever: the peer's slot gone (it released after STOP, or died) or no
  // progress for STALL_MS ends the loop.
  // Called on every fruitless spin, it looks at the clock once per 65,536 of them (the timed loop
  // stays a load and a compare).
  let spins = 0;
  let since = 0;
  const stalled = (): boolean => {
    if ((++spins & 0xffff) !== 0) return false;
    const now = performance.now();
    if (since === 0) since = now;
    return now - since > STALL_MS;
  };
  const progress = (): void => {
    spins = 0;
    since = 0;
  };
  if (role === "pong") {
    let k = 0;
    for (;;) {
      const v = read();
      if (v < 0 || v === STOP) break;
      if (v === k) {
        if (stalled()) throw new Error(`pong: no value from ping for ${STALL_MS} ms`);
        continue;
      }
      k = v;
      progress();
      me.set(k);
    }
    seg.unmap();
    reg.close();
    say({ done: true });
    return;
  }
  let k = 0;
  const warm = Math.min(1000, rounds);
  const awaitPong = (): void => {
    while (read() !== k) if (stalled()) throw new Error(`ping: no answer from pong for ${STALL_MS} ms`);
    progress();
  };
  for (let j = 0; j < warm; j++) {
    me.set(++k);
    awaitPong();
  }
  const samples: number[] = [];
  for (let b = 0; b * batch < rounds; b++) {
    const t0 = performance.now();
    for (let j = 0; j < batch; j++) {
      me.set(++k);
      awaitPong();
    }
    samples.push(((performance.now() - t0) * 1e6) / batch);
  }
  me.set(STOP);
  seg.unmap();
  reg.close();
  say({ samples });
}

function writer(control: string, config: string, name: string, slot: number, ops: number): void {
  const nat = shim();
  const fd = nat.ms_open(control, OpenKind.attach, 0);
  if (fd < 0) throw new Error(`open ${control}: ${fd}`);
  const address = nat.ms_map(fd, CONTROL_BYTES, 0);
  nat.ms_close(fd);
  if (address < 0) throw new Error(`map ${control}: ${address}`);
  const m = { buffer: nat.arrayBuffer(address, CONTROL_BYTES) };
  const ctl = new Int32Array(m.buffer, 0, 16);
  const f = new Float64Array(m.buffer);
  let reg: MemoryStatsRegistry | undefined;
  let run: (n: number) => void;
  if (config === "api") {
    reg = MemoryStatsRegistry.open(name);
    const h = reg.registerSlot({ label: `writer-${slot}` })!;
    run = (n) => {
      for (let i = 0; i < n; i++) h.set(i);
    };
  } else {
    // The same stores as set(): value, then the peak when it grows.
    const stride = config === "unpadded" ? UNPADDED_STRIDE : PADDED_STRIDE;
    const vi = (RAW_BASE + slot * stride) / 8;
    const pi = vi + 1;
    run = (n) => {
      for (let i = 0; i < n; i++) {
        f[vi] = i;
        if (i > f[pi]) f[pi] = i;
      }
    };
  }
  for (let w = 0; w < 5; w++) run(200_000);
  Atomics.add(ctl, 1, 1);
  say({ ready: true });
  // Start together. Sleep between looks rather than spin: spinning writers on a 2-core machine
  // starve the parent that is to start them.
  const waitStart = Date.now();
  while (Atomics.load(ctl, 0) === 0) {
    nat.ms_sleep_ms(0.1);
    if (Date.now() - waitStart > 120_000) throw new Error("the benchmark never said go");
  }
  const t0 = performance.now();
  run(ops);
  const t1 = performance.now();
  const ns = (t1 - t0) * 1e6;
  reg?.close();
  nat.ms_unmap(address, CONTROL_BYTES);
  // Wall-clock start and end (ms since the epoch), so the parent can check the writers overlapped.
  say({ ns, ops, start: performance.timeOrigin + t0, end: performance.timeOrigin + t1 });
}

function rss(mode: string, name: string | undefined): void {
  if (mode === "bare") {
    say({ status: procStatus() });
    return;
  }
  const t0 = performance.now();
  const r = MemoryStatsRegistry.open(name!, { readOnly: true });
  const openMs = performance.now() - t0;
  const agg = r.aggregateStats().activeThreads;
  const afterAggregate = procStatus();
  const slots = [...r.perThreadStats()].length;
  say({ status: afterAggregate, afterPerThread: procStatus(), openMs, slots, agg });
  r.close();
}

if (import.meta.main) {
  const [role, ...a] = process.argv.slice(2);
  try {
    if (role === "pingpong") await pingpong(a[0], a[1], a[2], Number(a[3]), Number(a[4]));
    else if (role === "writer") writer(a[0], a[1], a[2], Number(a[3]), Number(a[4]));
    else if (role === "rss") rss(a[0], a[1]);
    else throw new Error(`unknown role ${role}`);
    process.exit(0);
  } catch (e) {
    say({ error: String((e as Error).stack ?? e) });
    process.exit(1);
  }
}
