/**
 * Renders the results of `scripts/bench.ts` (one `SuiteResult` per runtime)
 * as `BENCHMARKS.md`: machine, versions, goals, then one section per figure,
 * the runtimes side by side. Results are found by the typed keys of
 * `bench_types.ts`, and their display names come from there too.
 *
 * @module
 */
import {
  HOT_LOOPS,
  HOT_RATIOS,
  type HotLoop,
  type HotRatio,
  LIFECYCLE_OPS,
  type LifecycleOp,
  type MachineInfo,
  READER_FNS,
  type ReaderFn,
  ROUND_TRIP_MODES,
  type RssProbe,
  type Stat,
  type SuiteResult,
  WRITER_LAYOUTS,
  type WriterLayout,
} from "./bench_types.ts";

// ---------------------------------------------------------------- formatting

/** A duration given in ns, in the unit that suits it. */
export function fmtTime(ns: number): string {
  if (!Number.isFinite(ns)) return "n/a";
  if (ns < 10) return `${ns.toFixed(2)} ns`;
  if (ns < 100) return `${ns.toFixed(1)} ns`;
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e4) return `${(ns / 1e3).toFixed(2)} µs`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(1)} µs`;
  if (ns < 1e7) return `${(ns / 1e6).toFixed(2)} ms`;
  return `${(ns / 1e6).toFixed(1)} ms`;
}

/** Median with its interquartile range. */
export function fmtStat(s: Stat | undefined, f: (x: number) => string = fmtTime): string {
  if (!s || !Number.isFinite(s.median)) return "n/a";
  return `**${f(s.median)}** <sub>[${f(s.p25)} – ${f(s.p75)}]</sub>`;
}

function fmtRatio(x: number): string {
  if (!Number.isFinite(x)) return "n/a";
  return x >= 100 ? `${x.toFixed(0)}×` : x >= 10 ? `${x.toFixed(1)}×` : `${x.toFixed(2)}×`;
}

function fmtRatioStat(s: Stat | undefined): string {
  if (!s || !Number.isFinite(s.median)) return "n/a";
  return `**${fmtRatio(s.median)}** <sub>[${fmtRatio(s.p25)} – ${fmtRatio(s.p75)}]</sub>`;
}

function fmtBytes(b: number): string {
  const a = Math.abs(b);
  if (a < 1024) return `${b} B`;
  if (a < 1024 ** 2) return `${(b / 1024).toFixed(1)} KiB`;
  if (a < 1024 ** 3) return `${(b / 1024 ** 2).toFixed(1)} MiB`;
  return `${(b / 1024 ** 3).toFixed(2)} GiB`;
}

function fmtKiB(k: number | undefined): string {
  return k === undefined ? "n/a" : k >= 10240 ? `${(k / 1024).toFixed(1)} MiB` : `${k} KiB`;
}

function ok(b: boolean): string {
  return b ? "✅ met" : "❌ not met";
}

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

// ---------------------------------------------------------------- lookups

function reader(r: SuiteResult, fn: ReaderFn, capacity: number, active: number): Stat | undefined {
  return r.readers.find((x) => x.fn === fn && x.capacity === capacity && x.active === active)?.stat;
}

function life(r: SuiteResult, op: LifecycleOp): Stat | undefined {
  return r.lifecycle.find((x) => x.op === op)?.stat;
}

function writer(r: SuiteResult, layout: WriterLayout, n: number) {
  return r.writers.find((w) => w.layout === layout && w.writers === n);
}

function heapPerOp(r: SuiteResult, loop: HotLoop): number {
  const h = r.heap.find((x) => x.loop === loop);
  return h ? h.allocatedBytes / h.ops : NaN;
}

function collected(r: SuiteResult, fn: ReaderFn): Stat | undefined {
  return r.collect.ours.find((x) => x.fn === fn)?.stat;
}

// ---------------------------------------------------------------- goals

/** The goals, by key; each row of the goals table and each note on a goal not met is found by it. */
type GoalId =
  | "set"
  | "updateArenaStats"
  | "naive"
  | "allocation"
  | "aggregate64"
  | "perThread64"
  | "perThreadOverAggregate"
  | "linear"
  | "register"
  | "collect";

interface Goal {
  id: GoalId;
  goal: string;
  cell: (r: SuiteResult) => { text: string; met: boolean };
}

const GOALS: readonly Goal[] = [
  {
    id: "set",
    goal: "`slot.set(v)` ≤ 5 ns/op",
    cell: (r) => {
      const s = r.hot.rows.set?.median ?? NaN;
      return { text: fmtTime(s), met: s <= 5 };
    },
  },
  {
    id: "updateArenaStats",
    goal: "`updateArenaStats(v)` ≤ 5 ns/op",
    cell: (r) => {
      const s = r.hot.rows.updateArenaStats?.median ?? NaN;
      return { text: fmtTime(s), met: s <= 5 };
    },
  },
  {
    id: "naive",
    goal: "≥ 4× faster than the naive BigInt `Atomics.store` (both)",
    cell: (r) => {
      const a = r.hot.ratios.naiveOverSet?.median ?? NaN;
      const b = r.hot.ratios.naiveOverUpdateArenaStats?.median ?? NaN;
      return { text: `${fmtRatio(a)} / ${fmtRatio(b)}`, met: a >= 4 && b >= 4 };
    },
  },
  {
    id: "allocation",
    goal: "hot path allocates nothing (10M updates)",
    cell: (r) => {
      const a = heapPerOp(r, "set");
      const b = heapPerOp(r, "updateArenaStats");
      return { text: `${a.toFixed(3)} / ${b.toFixed(3)} B/op`, met: a < 0.1 && b < 0.1 };
    },
  },
  {
    id: "aggregate64",
    goal: "`aggregateStats()`, 64 slots ≤ 2 µs",
    cell: (r) => {
      const s = reader(r, "aggregateStats", 64, 64)?.median ?? NaN;
      return { text: fmtTime(s), met: s <= 2000 };
    },
  },
  {
    id: "perThread64",
    goal: "`perThreadStats()`, 64 slots ≤ 2 µs",
    cell: (r) => {
      const s = reader(r, "perThreadStats", 64, 64)?.median ?? NaN;
      return { text: fmtTime(s), met: s <= 2000 };
    },
  },
  {
    id: "perThreadOverAggregate",
    goal: "`perThreadStats()` ≤ 1.6× `aggregateStats()`, 64 slots",
    cell: (r) => {
      const x = (reader(r, "perThreadStats", 64, 64)?.median ?? NaN) /
        (reader(r, "aggregateStats", 64, 64)?.median ?? NaN);
      return { text: fmtRatio(x), met: x <= 1.6 };
    },
  },
  {
    id: "linear",
    goal: "readers linear in slots (ns/slot at 65,536 within 2× of 1,024)",
    cell: (r) => {
      const big = Math.max(...r.readers.map((x) => x.capacity));
      const parts: string[] = [];
      let met = true;
      for (const fn of ["aggregateStats", "perThreadStats"] as const) {
        const a = (reader(r, fn, 1024, 1024)?.median ?? NaN) / 1024;
        const b = (reader(r, fn, big, big)?.median ?? NaN) / big;
        parts.push(fmtRatio(b / a));
        met &&= b / a <= 2 && b / a >= 0.5;
      }
      return { text: `per-slot cost ratio ${parts.join(" / ")}`, met };
    },
  },
  {
    id: "register",
    goal: "`register()` + `release()` uncontended ≤ 2 µs",
    cell: (r) => {
      const s = life(r, "registerIndexHeld")?.median ?? NaN;
      return { text: fmtTime(s), met: s <= 2000 };
    },
  },
  {
    id: "collect",
    goal: "collecting 8 processes' figures ≥ 100× faster than prom-client `clusterMetrics()`",
    cell: (r) => {
      const x = r.collect.prom.stat.median / (collected(r, "perThreadStats")?.median ?? NaN);
      return { text: fmtRatio(x), met: x >= 100 };
    },
  },
];

// ---------------------------------------------------------------- sections

function goals(rs: SuiteResult[]): string {
  const rows = GOALS.map((g) => {
    const cells = rs.map((r) => {
      const c = g.cell(r);
      return `${c.text} ${ok(c.met)}`;
    });
    return [g.goal, ...cells];
  });
  return table(["goal", ...rs.map((r) => r.version)], rows);
}

function hot(rs: SuiteResult[]): string {
  const loops = (Object.keys(HOT_LOOPS) as HotLoop[]).filter((k) => rs.some((r) => r.hot.rows[k]));
  const rows = loops.map((k) => [`\`${HOT_LOOPS[k]}\``, ...rs.map((r) => fmtStat(r.hot.rows[k]))]);
  const ratioKeys = (Object.keys(HOT_RATIOS) as HotRatio[]).filter((k) => rs.some((r) => r.hot.ratios[k]));
  const ratios = ratioKeys.map((k) => [HOT_RATIOS[k].text, ...rs.map((r) => fmtRatioStat(r.hot.ratios[k]))]);
  const heapRows = rs[0].heap.map((h) => [
    `\`${HOT_LOOPS[h.loop]}\``,
    ...rs.map((r) => {
      const x = r.heap.find((y) => y.loop === h.loop);
      if (!x) return "n/a";
      return `${fmtBytes(x.allocatedBytes)} (${(x.allocatedBytes / x.ops).toFixed(3)} B/op); heap used ${
        fmtBytes(x.usedBefore)
      } → ${fmtBytes(x.usedAfter)}`;
    }),
  ]);
  const h = rs[0].heap[0]?.ops ?? 0;
  return [
    `ns per update, median <sub>[p25 – p75]</sub> of ${rs[0].hot.rounds} samples of ${
      rs[0].hot.opsPerSample.toLocaleString("en")
    } updates each; the loops are interleaved round by round (order rotated), so every row saw the same machine. ` +
    "Each update stores an increasing value, so the peak is rewritten every time (the worst case).",
    "",
    table(["operation", ...rs.map((r) => r.version)], rows),
    "",
    "Ratios, each the median <sub>[p25 – p75]</sub> of per-round ratios:",
    "",
    table(["ratio", ...rs.map((r) => r.version)], ratios),
    "",
    `Heap over ${h.toLocaleString("en")} updates: bytes allocated by the engine during the loop ` +
    "(`total_allocated_bytes` from `node:v8`'s `getHeapStatistics()`, which every runtime here implements) and the used heap before → after. " +
    "The naive BigInt store is there to show the counter does see allocations; the plain store shows its noise " +
    "(optimised code and the counter's own bookkeeping).",
    "",
    table(["loop", ...rs.map((r) => r.version)], heapRows),
  ].join("\n");
}

function readers(rs: SuiteResult[]): string {
  const keys: { fn: ReaderFn; capacity: number; active: number }[] = [];
  for (const x of rs[0].readers) keys.push({ fn: x.fn, capacity: x.capacity, active: x.active });
  const rows = keys.map((k) => [
    `\`${READER_FNS[k.fn]}\``,
    `${k.active.toLocaleString("en")} of ${k.capacity.toLocaleString("en")}`,
    ...rs.map((r) => {
      const s = reader(r, k.fn, k.capacity, k.active);
      if (!s) return "n/a";
      return k.active === k.capacity
        ? `${fmtStat(s)}<br>${fmtTime(s.median / k.active)} per slot`
        : `${fmtStat(s)}<br>${fmtTime(s.median / k.capacity)} per slot scanned`;
    }),
  ]);
  const curve = rs.map((r) => {
    const lines = [`${r.version}:`];
    for (const fn of ["aggregateStats", "perThreadStats"] as const) {
      const pts = r.readers.filter((x) => x.fn === fn && x.capacity === x.active);
      const base = pts[0];
      if (!base) continue;
      for (const p of pts) {
        const t = p.stat.median;
        const bar = "█".repeat(Math.max(1, Math.round(Math.log2(t / base.stat.median + 1) * 3)));
        lines.push(
          `  ${READER_FNS[fn].padEnd(17)} ${String(p.active).padStart(6)} slots ${fmtTime(t).padStart(9)}  ` +
            `${(t / base.stat.median).toFixed(0).padStart(5)}× time for ${
              (p.active / base.active).toFixed(0).padStart(5)
            }× slots  ${bar}`,
        );
      }
    }
    return lines.join("\n");
  });
  return [
    "One reader process scanning a table in which every slot has an owner (and one more row: a large table with 64 owners, to show " +
    "what free slots cost). mitata's `measure()`, median <sub>[p25 – p75]</sub>.",
    "",
    table(["call", "active of capacity", ...rs.map((r) => r.version)], rows),
    "",
    "The curve (time relative to 64 slots; bars on a log scale):",
    "",
    "```text",
    ...curve,
    "```",
  ].join("\n");
}

function lifecycle(rs: SuiteResult[]): string {
  const rows = rs[0].lifecycle.map((l) => [LIFECYCLE_OPS[l.op], ...rs.map((r) => fmtStat(life(r, l.op)))]);
  return [
    "In-process, after the shim is loaded (mitata, median <sub>[p25 – p75]</sub>). `open()` is timed with the `close()` " +
    "that undoes it (an `munmap`); its first call in a fresh process, which also loads the shim, is in the memory section.",
    "",
    table(["operation", ...rs.map((r) => r.version)], rows),
  ].join("\n");
}

function roundTrip(rs: SuiteResult[]): string {
  const rows = rs[0].roundTrip.map((t) => [
    ROUND_TRIP_MODES[t.mode],
    ...rs.map((r) => {
      const x = r.roundTrip.find((y) => y.mode === t.mode);
      return x ? `${fmtStat(x.stat)} <sub>(${x.rounds.toLocaleString("en")} trips)</sub>` : "n/a";
    }),
  ]);
  return [
    "Two processes of the same runtime, one slot each: A writes k into its slot; B, spinning on A's slot, sees k and writes k " +
    "into its own; A, spinning on B's slot, sees k. Time per round trip (two cross-core hand-offs), median <sub>[p25 – p75]</sub> " +
    "over batches of 1,000 trips.",
    "",
    table(["how the value is read", ...rs.map((r) => r.version)], rows),
  ].join("\n");
}

function writers(rs: SuiteResult[]): string {
  const rows = rs[0].writers.map((w) => [
    `${WRITER_LAYOUTS[w.layout]} (stride ${w.stride} B)`,
    String(w.writers),
    ...rs.map((r) => {
      const x = writer(r, w.layout, w.writers);
      return x ? `${fmtStat(x.nsPerOp)} per update; **${x.totalMops.median.toFixed(0)} M/s** in all` : "n/a";
    }),
  ]);
  const effect = rs.map((r) => {
    const parts: string[] = [];
    for (const layout of Object.keys(WRITER_LAYOUTS) as WriterLayout[]) {
      const one = writer(r, layout, 1);
      const two = writer(r, layout, 2);
      if (one && two) {
        parts.push(
          `${WRITER_LAYOUTS[layout]}: two writers give ${
            fmtRatio(two.totalMops.median / one.totalMops.median)
          } the throughput of one`,
        );
      }
    }
    const p2 = writer(r, "padded", 2);
    const u2 = writer(r, "unpadded", 2);
    if (p2 && u2) {
      parts.push(
        `**padding buys ${fmtRatio(p2.totalMops.median / u2.totalMops.median)}** with two writers ` +
          `(each update costs ${
            fmtRatio(u2.nsPerOp.median / p2.nsPerOp.median)
          } as much when the two slots share a cache line)`,
      );
    }
    return `- ${r.version}: ${parts.join("; ")}.`;
  });
  return [
    `Each writer is a process updating its own slot ${
      rs[0].writers[0]?.opsPerWriter.toLocaleString("en")
    } times; ` +
    "two writers start together on a shared start word (the machine has two cores). The raw rows run the very same stores " +
    "as `set()` (value, then peak when it grows) at two strides: our layout's, and a 16-byte slot (value + peak, no padding) " +
    "built only inside the benchmark, where slots 0 and 1 share one cache line. Median <sub>[p25 – p75]</sub> of the writers' " +
    "ns per update over 5 repetitions; M/s is all writers' updates per second.",
    "",
    table(["layout", "writers", ...rs.map((r) => r.version)], rows),
    "",
    ...effect,
  ].join("\n");
}

function collect(rs: SuiteResult[]): string {
  const rows: string[][] = [];
  const what: Record<"perThreadStats" | "aggregateStats", string> = {
    perThreadStats: "(every process's figures)",
    aggregateStats: "(totals)",
  };
  for (const fn of ["perThreadStats", "aggregateStats"] as const) {
    rows.push([
      `memstats-shm read-only reader: \`${READER_FNS[fn]}\` ${what[fn]}`,
      ...rs.map((r) => {
        const x = r.collect.ours.find((y) => y.fn === fn);
        return x ? `${fmtStat(x.stat)} <sub>(${x.entries} entries)</sub>` : "n/a";
      }),
    ]);
  }
  rows.push([
    "prom-client 15.1.3 `AggregatorRegistry.clusterMetrics()` over `node:cluster` IPC",
    ...rs.map((r) => `${fmtStat(r.collect.prom.stat)} <sub>(${r.collect.prom.series} series)</sub>`),
  ]);
  rows.push([
    "**ratio** (prom-client ÷ `perThreadStats()`)",
    ...rs.map((r) =>
      `**${fmtRatio(r.collect.prom.stat.median / (collected(r, "perThreadStats")?.median ?? NaN))}**`
    ),
  ]);
  const n = rs[0].collect.workers;
  return [
    `A \`node:cluster\` primary forks ${n} worker processes; each stores one memory figure (its RSS) twice: in a ` +
    "prom-client gauge labelled by its pid (so the primary gets every worker's figure, as `perThreadStats()` does), " +
    "and in a slot of its own in a memstats-shm segment. In the primary, a read-only memstats-shm reader collects " +
    "every worker's figure from the segment, and prom-client's `clusterMetrics()` asks each worker over IPC and " +
    "merges the answers: the same processes, side by side in the same run, median <sub>[p25 – p75]</sub>. Under Node " +
    "this is prom-client at home; Bun and Deno run the same script through their own `node:cluster`.",
    "",
    table(["collector", ...rs.map((r) => r.version)], rows),
  ].join("\n");
}

function memory(rs: SuiteResult[]): string {
  const r0 = rs[0];
  const caps = [...new Set(r0.memory.sizes.map((s) => s.capacity))];
  const fields = [...new Set(r0.memory.sizes.map((s) => s.fields))];
  const sizeRows = caps.map((c) => [
    c.toLocaleString("en"),
    ...fields.map((f) => {
      const s = r0.memory.sizes.find((x) => x.capacity === c && x.fields === f)!;
      return `${fmtBytes(s.bytes)}${s.checked ? " ✓" : ""}`;
    }),
  ]);
  const probeName = (probe: RssProbe, capacity: number) =>
    probe === "reader"
      ? `reader after \`open()\` + \`aggregateStats()\`, ${capacity.toLocaleString("en")} active slots`
      : probe === "readerRecords"
      ? `the same, after also \`perThreadStats()\` (${capacity.toLocaleString("en")} records alive)`
      : "bare runtime";
  const rssRows = r0.memory.rss.map((x) => [
    probeName(x.probe, x.capacity),
    ...rs.map((r) => {
      const y = r.memory.rss.find((z) => z.probe === x.probe && z.capacity === x.capacity);
      const bare = r.memory.rss.find((z) => z.probe === "bare");
      if (!y) return "n/a";
      const s = y.status;
      const delta = bare && y !== bare ? ` (+${fmtKiB(s.VmRSS - bare.status.VmRSS)})` : "";
      const open = y.openMs !== undefined ? `; first open ${y.openMs.toFixed(1)} ms` : "";
      return `**${fmtKiB(s.VmRSS)}**${delta}<br><sub>anon ${fmtKiB(s.RssAnon)}, file ${fmtKiB(s.RssFile)}, ` +
        `shmem ${fmtKiB(s.RssShmem)}${open}</sub>`;
    }),
  ]);
  return [
    "Segment size = header + capacity × stride, with header = ⌈(128 + 32·fields) / 64⌉·64 and stride = ⌈(128 + 16·fields) / 64⌉·64 " +
    "(whole cache lines: 128 bytes of owner, seqlock, identity and label, then a value and a peak per field). " +
    "✓: checked against a real segment (`info.size` and the file in `/dev/shm`).",
    "",
    table(["capacity", ...fields.map((f) => `${f} field${f > 1 ? "s" : ""}`)], sizeRows),
    "",
    "Resident memory (`/proc/self/status`) of a process that opens a segment read-only and reads it, beside a bare " +
    "runtime that only prints its own figures (+: over the bare runtime). `file` is mostly the runtime's and our code, " +
    "`shmem` the part of the segment the reader touched (a scan touches every slot's first line), `anon` the heap; " +
    '"first open" includes loading the native shim.',
    "",
    table(["process", ...rs.map((r) => r.version)], rssRows),
  ].join("\n");
}

function notes(rs: SuiteResult[]): string {
  const out: string[] = [];
  for (const r of rs) {
    const unmet = GOALS.filter((g) => !g.cell(r).met);
    for (const g of unmet) out.push(`- ${r.version}: ${g.goal}: ${g.cell(r).text}. ${whyNot(g.id, r)}`);
  }
  return out.length ? out.join("\n") : "Every goal is met in every runtime in this run.";
}

// What stands in the way of a goal that this run did not meet, with this run's numbers.
function whyNot(goal: GoalId, r: SuiteResult): string {
  const alloc = life(r, "allocation");
  const allocText = alloc
    ? ` (this run: \`new Float64Array(8)\` costs ${fmtTime(alloc.median)} in ${r.version})`
    : "";
  const per64 = (reader(r, "perThreadStats", 64, 64)?.median ?? NaN) / 64;
  const ipc = { bun: "Bun's", deno: "Deno's", node: "Node's" }[r.runtime];
  switch (goal) {
    case "aggregate64":
      return "The scan itself is linear (see the 1,024 and 65,536 rows); what remains is a fixed cost per call, " +
        `typically typed-array allocations${
          r.runtime === "bun" ? "" : ", which are off-heap in V8"
        }${allocText}.`;
    case "perThread64":
    case "perThreadOverAggregate":
      return `\`perThreadStats()\` returns a record per slot, ${fmtTime(per64)} per record here, where ` +
        "`aggregateStats()` sums inside the shim's scan and builds none. The same read as reused columns, " +
        `\`registry.snapshot()\`, took ${
          fmtTime(reader(r, "snapshot", 64, 64)?.median ?? NaN)
        }: the rest is ` +
        "three objects per row (the record, its `values` and its `peaks`) and their collection. Lazy records " +
        "(one object per row, `values` built on access) measured no faster here, and would lose `values` and " +
        "`peaks` in `structuredClone` and spreads.";
    case "linear":
      return "`aggregateStats()` allocates nothing per slot and stays linear. `perThreadStats()` builds a record per " +
        "slot: at 65,536 slots one call creates tens of MB of records, which overflows the young generation, so " +
        "collections make each slot dearer; the work is linear, the garbage collector's share is not.";
    case "collect":
      return `Our side is \`perThreadStats()\` over the ${r.collect.workers} workers' slots ` +
        `(${
          fmtTime(collected(r, "perThreadStats")?.median ?? NaN)
        }); prom-client's \`clusterMetrics()\` took ` +
        `${fmtTime(r.collect.prom.stat.median)} (${ipc} IPC). \`aggregateStats()\` (the totals) is ` +
        `${fmtRatio(r.collect.prom.stat.median / (collected(r, "aggregateStats")?.median ?? NaN))} faster.`;
    case "register":
      return "Registration costs a handful of CASes and native calls, plus any typed-array allocation on the way" +
        allocText + ".";
    case "set":
    case "updateArenaStats":
      return "The figure depends on the engine's code for the loop (see the hot-path notes below) and on the machine " +
        `(other processes used ${r.othersCpuPercent.toFixed(1)}% of the CPU during this suite).`;
    case "naive":
    case "allocation":
      return "";
  }
}

/** The whole Markdown document. */
export function renderMarkdown(m: MachineInfo, rs: SuiteResult[], commandLine: string): string {
  // Where the files went does not change a figure: show the command without its output options.
  const command = commandLine.replace(/\s--(out|keep|render)\s+\S+/g, "");
  const quiet = /--quiet\s+(\d+)/.exec(command)?.[1] ?? (/--smoke/.test(command) ? "0" : "15");
  const smoke = rs.some((r) => r.smoke);
  const load = rs.map((r) =>
    `${r.version}: machine ${
      r.idleBeforePercent.toFixed(0)
    }% idle in the 3 s before the suite; other processes used ` +
    `${r.othersCpuPercent.toFixed(1)}% of the CPU time during its ${r.seconds.toFixed(0)} s; load average ` +
    `${r.loadBefore.map((x) => x.toFixed(2)).join(" / ")} (1/5/15 min) at start, ` +
    `${r.loadAfter.map((x) => x.toFixed(2)).join(" / ")} at the end`
  );
  return [
    "# Benchmarks",
    "",
    ...(smoke
      ? [
        "> **Smoke run**: a handful of iterations to keep the benchmark working; these figures mean nothing.",
        "",
      ]
      : []),
    `Generated by \`${command}\` on ${m.date.slice(0, 16).replace("T", " ")} UTC, ` +
    `commit \`${m.commit}\`${
      m.dirty ? " (with uncommitted changes)" : ""
    }. One run: each runtime's suite ran in its own ` +
    "child process, one after the other, and every ratio below compares figures measured side by side in the same suite. " +
    "Reproduce with `bun scripts/bench.ts`, `deno run -A scripts/bench.ts` or `node scripts/bench.ts` (each writes this " +
    "file, running every runtime's suite; `--smoke` for a quick check).",
    "",
    "## Machine",
    "",
    table(["", ""], [
      ["CPU", `${m.cpu}, ${m.cores} cores`],
      ["memory", `${m.memoryGiB} GiB`],
      ["kernel", m.kernel],
      ...rs.map((r) => [r.version, r.engine]),
      ["noise", load.join("<br>")],
    ]),
    "",
    `The machine is shared with other jobs; each suite waited for ${quiet} s of idle CPUs before it started (\`--quiet\`), ` +
    "and the noise row says how much CPU other processes took while it ran (the load average lags by minutes). " +
    "Figures are medians with their interquartile range, and every comparison is a ratio measured in the same run.",
    "",
    "## Goals",
    "",
    goals(rs),
    "",
    "## 1. Update fast path",
    "",
    hot(rs),
    "",
    "## 2. Readers: `aggregateStats()` and `perThreadStats()`",
    "",
    readers(rs),
    "",
    "## 3. Registration and open",
    "",
    lifecycle(rs),
    "",
    "## 4. Cross-process visibility",
    "",
    roundTrip(rs),
    "",
    "## 5. Two writers on two cores: what the padding buys",
    "",
    writers(rs),
    "",
    "## 6. Collecting every process's figures: memstats-shm vs prom-client",
    "",
    collect(rs),
    "",
    "## 7. Memory",
    "",
    memory(rs),
    "",
    "## Notes",
    "",
    "### Goals not met",
    "",
    notes(rs),
    "",
    HOT_PATH_NOTES,
    "",
  ].join("\n");
}

const HOT_PATH_NOTES = `### Why the hot path is shaped the way it is

Bun (JavaScriptCore) ran \`set()\` at about 1 ns from the start. Deno (V8) did not: \`set()\` took about 6 ns and
\`updateArenaStats()\` 6-7 ns, against 0.45 ns for a plain store. V8's own output (\`--trace-turbo\`: the instruction
sequence after register allocation) showed where the time went, and \`src/slot.ts\` was changed accordingly:

- \`MAX_VALUE\` is an exported \`const\`, so a module cell: every call loaded it, checked whether it was a Smi and unboxed
  a HeapNumber before comparing. The bound is now a literal.
- TypeScript \`#fields\` are defined as \`undefined\` before the constructor assigns them, so V8 generalised their
  representation: the slot index lost its Smi representation (a tag test and a deferred HeapNumber path on every call)
  and the \`Float64Array\` field its map (a map check). Fields now start with a value of their final type.
- The handle kept the whole segment's \`Float64Array\` and three indexes; it now keeps a \`Float64Array\` over its own slot,
  so the value and \`updatedAt\` are at constant indexes and only the peak's index is loaded.
- The coarse clock is read through a module-local alias instead of an imported binding.

No FFI call, no BigInt and no new representation was needed: the value is still one aligned 8-byte f64 store, which the
layout and the existing cross-process stress tests already cover. Measured with this benchmark's hot-path section on the
parent commit and after the change, on this machine (median ns/op, Deno 2.9.6): \`set()\` 6.06 → 3.51,
\`updateArenaStats()\` 6.87 → 4.36, \`updateArena(index, v)\` 7.89 → 5.35, so the naive store went from 4.0× and 3.6× slower
to 7× and 5.6×; Bun 1.4.5 unchanged (1.04 / 1.21).
Removing the overload branch, the private fields or the clock store would each save well under 1 ns more; the clock store
stays because \`updatedAt\` is part of the format.

A second finding: in Deno every typed-array allocation is off-heap and costs about 0.5 µs (in Bun ~15 ns). \`detach()\`
(run by every \`release()\`) made two, so \`register()\` + \`release()\` cost 2.8 µs in Deno (and 3.2 µs with the first
version of the per-slot view); released handles now take their private copy from a shared pool and the pair costs about
1 µs. The same cost was behind a ~5 µs fixed cost of \`aggregateStats()\` in Deno, since removed in the reader (per-segment
scratch, commit 254b987); \`register()\` still pays one (\`encodeLabel()\` allocates an empty \`Uint8Array\` when there is no
label), and when a thread releases its only slot, stopping and restarting the coarse clock's timer adds ~2 µs in Deno
(\`src/clock.ts\`), which the "only slot" row shows.`;
