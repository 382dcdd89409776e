/**
 * What the read protocol costs, per runtime, measured side by side in one
 * run (interleaved rounds, order rotated, medians and per-round ratios):
 *
 * 1. `aggregateStats()` over 64 live slots with the reads in the shim (C11
 *    fences, guarded, owners judged) against the same call of an earlier
 *    version (`--before <checkout>`: a working tree of that version with its
 *    node_modules), loaded in the same process.
 * 2. The same read with and without judging owners' liveness.
 * 3. `aggregateStats()` over 1,048,576 slots all stuck mid-update.
 *
 * Usage: `bun scripts/bench_protocol.ts [--before /path/to/checkout] [--smoke]`.
 * Prints a markdown section; `scripts/bench.ts --protocol` puts it in
 * BENCHMARKS.md ("The read protocol").
 */
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

interface Variant {
  readonly name: string;
  readonly run: () => unknown;
}

interface Row {
  readonly name: string;
  readonly median: number;
  readonly p25: number;
  readonly p75: number;
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * (s.length - 1) + 0.5))];
}

/** ns per call of each variant, rounds interleaved with the order rotated. */
function measure(variants: Variant[], calls: number, rounds: number): { rows: Row[]; ratios: number[][] } {
  const ns: number[][] = variants.map(() => []);
  for (const v of variants) for (let i = 0; i < calls; i++) v.run(); // warm up every JIT tier
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const i = (k + r) % variants.length;
      const t0 = performance.now();
      for (let c = 0; c < calls; c++) variants[i].run();
      ns[i].push(((performance.now() - t0) * 1e6) / calls);
    }
  }
  const rows = variants.map((v, i) => ({
    name: v.name,
    median: quantile(ns[i], 0.5),
    p25: quantile(ns[i], 0.25),
    p75: quantile(ns[i], 0.75),
  }));
  const ratios = variants.map((_, i) => ns[i].map((x, r) => x / ns[0][r]));
  return { rows, ratios };
}

/** The child: measures in this runtime and prints one JSON line. */
async function child(before: string | undefined, smoke: boolean): Promise<void> {
  const { MemoryStatsRegistry } = await import("../mod.ts");
  const { openSegment } = await import("../src/segment.ts");
  const { totalsOnly } = await import("../src/table.ts");
  const { geometry, S, slotOffset } = await import("../src/layout.ts");
  const name = `/bench-protocol-${process.pid}`;
  const w = MemoryStatsRegistry.open(name, { capacity: 64 });
  const handles = Array.from({ length: 64 }, (_, i) => w.registerSlot({ label: `w${i}` })!);
  handles.forEach((h, i) => h.set(i * 1000));
  const reader = MemoryStatsRegistry.open(name, { readOnly: true });
  const seg = openSegment(name, { readOnly: true });
  const variants: Variant[] = [{
    name: "aggregateStats(), reads in the shim",
    run: () => reader.aggregateStats(),
  }];
  let old: { aggregateStats(): unknown; perThreadStats(): Iterable<unknown>; close(): void } | undefined;
  if (before) {
    try {
      const mod = await import(`${before.replace(/\/$/, "")}/mod.ts`);
      old = mod.MemoryStatsRegistry.open(name, { readOnly: true });
      variants.push({
        name: "aggregateStats(), before (reads in JavaScript)",
        run: () => old!.aggregateStats(),
      });
    } catch {
      // The earlier version does not run in this runtime (it knew Bun and Deno only).
    }
  }
  variants.push({ name: "the same read, owners not judged", run: () => totalsOnly(seg, 1000, false) });
  const calls = smoke ? 200 : 20_000;
  const reads = measure(variants, calls, smoke ? 3 : 21);
  // Every row built and iterated, now and before.
  const each = (r: { perThreadStats(): Iterable<unknown> }) => () => {
    let n = 0;
    for (const _ of r.perThreadStats()) n++;
    return n;
  };
  const rows = measure(
    [
      { name: "perThreadStats(), reads in the shim", run: each(reader) },
      ...(old ? [{ name: "perThreadStats(), before (reads in JavaScript)", run: each(old) }] : []),
    ],
    smoke ? 20 : 2_000,
    smoke ? 3 : 21,
  );
  old?.close();
  reader.close();
  seg.unmap();
  // 1,048,576 slots, every one owned by a live owner (this thread) and stuck mid-update.
  const capacity = smoke ? 4096 : 1 << 20;
  const big = `/bench-stuck-${process.pid}`;
  const g = geometry(capacity, 1);
  const bw = MemoryStatsRegistry.open(big, { capacity });
  const me = bw.registerSlot()!;
  const template = new Uint8Array(g.slotStride);
  const fd = openSync(`/dev/shm${big}`, "r+");
  readSync(fd, template, 0, g.slotStride, slotOffset(g, me.index));
  const dv = new DataView(template.buffer);
  dv.setUint32(S.seq, 1, true);
  const batch = 4096;
  const buf = new Uint8Array(g.slotStride * batch);
  for (let i = 0; i < capacity; i += batch) {
    for (let k = 0; k < batch; k++) {
      dv.setBigUint64(S.owner, BigInt(1_000_000 + i + k), true);
      buf.set(template, k * g.slotStride);
    }
    writeSync(fd, buf, 0, batch * g.slotStride, slotOffset(g, i));
  }
  closeSync(fd);
  const stuckReader = MemoryStatsRegistry.open(big, { readOnly: true });
  let skipped = 0;
  const stuck = measure(
    [{
      name: `aggregateStats(), ${capacity.toLocaleString("en-US")} slots all stuck`,
      run: () => (skipped = stuckReader.aggregateStats().skippedSlots),
    }],
    1,
    smoke ? 3 : 11,
  );
  stuckReader.close();
  bw.close();
  w.close();
  MemoryStatsRegistry.unlink(big);
  MemoryStatsRegistry.unlink(name);
  process.stdout.write(JSON.stringify({ reads, rows, stuck, skipped, capacity }) + "\n");
}

function fmt(ns: number): string {
  return ns >= 1e6
    ? `${(ns / 1e6).toFixed(1)} ms`
    : ns >= 1000
    ? `${(ns / 1000).toFixed(2)} µs`
    : `${ns.toFixed(0)} ns`;
}

/**
 * Run the measure in each runtime (a child process each, one after the
 * other) and render the section "The read protocol" of BENCHMARKS.md.
 * `before`: a checkout of an earlier version (with node_modules) to compare with.
 */
export function protocolSection(
  before: string | undefined,
  smoke: boolean,
  runtimes: readonly string[],
): string {
  const out: string[] = [
    "## The read protocol",
    "",
    "What reading through the shim costs (C11 fences, a SIGBUS guard, owners judged as they are read), " +
    "measured by `scripts/bench_protocol.ts` in each runtime, the variants interleaved round by round " +
    "in one process (medians of 21 rounds of 20,000 calls; ratios are the medians of per-round ratios)" +
    (before ? `, against the version checked out at \`${before}\`, loaded in the same process.` : "."),
    "",
  ];
  for (const rt of runtimes) {
    const bin = `${ROOT}node_modules/.bin/${rt}`;
    const me = fileURLToPath(import.meta.url);
    const args = ["--child", ...(before ? ["--before", before] : []), ...(smoke ? ["--smoke"] : [])];
    const argv = [...(rt === "deno" ? ["run", "-A"] : []), me, ...args];
    const r = spawnSync(bin, argv, { encoding: "utf8", timeout: 600_000 });
    if (r.status !== 0) throw new Error(`${rt}: ${r.stderr}`);
    const res = JSON.parse(r.stdout.trim().split("\n").pop()!);
    out.push(
      `### ${rt}`,
      "",
      "| read | median | p25 – p75 | ratio to the first row |",
      "| --- | --- | --- | --- |",
    );
    res.reads.rows.forEach((row: Row, i: number) => {
      const ratio = quantile(res.reads.ratios[i], 0.5);
      out.push(
        `| ${row.name} | **${fmt(row.median)}** | ${fmt(row.p25)} – ${fmt(row.p75)} | ${ratio.toFixed(2)}× |`,
      );
    });
    res.rows.rows.forEach((row: Row, i: number) => {
      const ratio = quantile(res.rows.ratios[i], 0.5);
      out.push(
        `| ${row.name} | **${fmt(row.median)}** | ${fmt(row.p25)} – ${fmt(row.p75)} | ${
          i === 0 ? "1.00× (its own first row)" : `${ratio.toFixed(2)}×`
        } |`,
      );
    });
    const st = res.stuck.rows[0];
    out.push(
      `| ${st.name} | **${fmt(st.median)}** | ${fmt(st.p25)} – ${fmt(st.p75)} | ${res.skipped} skipped |`,
      "",
    );
  }
  return out.join("\n");
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const smoke = args.includes("--smoke");
  const at = args.indexOf("--before");
  const before = at === -1 ? undefined : args[at + 1];
  if (args.includes("--child")) await child(before, smoke);
  else console.log(protocolSection(before, smoke, ["bun", "deno", "node"]));
}
