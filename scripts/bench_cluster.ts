/**
 * Section 6 of `scripts/bench.ts`: collecting every process's memory figure,
 * memstats-shm against prom-client, over the same processes. A `node:cluster`
 * primary forks N workers; each worker stores its RSS both in a prom-client
 * gauge (labelled by pid, so the primary gets every worker's value, as
 * `perThreadStats()` does) and in its own slot of the segment. The primary
 * then times, side by side, our read-only reader over the workers' slots
 * and `AggregatorRegistry.clusterMetrics()`, which asks every worker over
 * IPC and merges the answers. Under Node this is prom-client at home; Bun
 * and Deno run the same code through their `node:cluster`.
 *
 * Usage (from bench.ts): `<runtime> scripts/bench_cluster.ts <workers> <calls> <segment> [--smoke]`;
 * the segment exists already. Prints one JSON line, a {@linkcode CollectResult}.
 *
 * @module
 */
import cluster from "node:cluster";
import process from "node:process";
import { measure } from "mitata";
import { AggregatorRegistry, Gauge } from "prom-client";
import { MemoryStatsRegistry } from "../mod.ts";
import { type CollectResult, fromMitata, mitataOptions, stat } from "./bench_types.ts";

const [workersArg = "8", callsArg = "100", segment = ""] = process.argv.slice(2);
const smoke = process.argv.includes("--smoke");

async function primary(workers: number, calls: number): Promise<void> {
  const agg = new AggregatorRegistry();
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on("message", (m: unknown) => {
      if (m === "ready") ready++;
    });
  }
  const deadline = Date.now() + 60_000;
  while (ready < workers) {
    if (Date.now() > deadline) throw new Error(`only ${ready} of ${workers} workers came up`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const reader = MemoryStatsRegistry.open(segment, { readOnly: true });
  const entries = [...reader.perThreadStats()].length;
  if (entries !== workers) throw new Error(`${entries} slots for ${workers} workers`);
  const ours: CollectResult["ours"] = [];
  ours.push({
    fn: "perThreadStats",
    stat: fromMitata(await measure(() => [...reader.perThreadStats()], mitataOptions(smoke))),
    entries,
  });
  ours.push({
    fn: "aggregateStats",
    stat: fromMitata(await measure(() => reader.aggregateStats(), mitataOptions(smoke))),
    entries,
  });
  reader.close();
  let text = "";
  for (let i = 0; i < Math.min(20, calls); i++) text = await agg.clusterMetrics(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    text = await agg.clusterMetrics();
    samples.push((performance.now() - t0) * 1e6);
  }
  const series = text.split("\n").filter((l) => l.startsWith("arena_bytes{")).length;
  const result: CollectResult = { ours, prom: { stat: stat(samples), series, calls } };
  process.stdout.write(JSON.stringify(result) + "\n");
  // Reap the workers before exiting, so their CPU time is charged to this benchmark, not to "other processes".
  const gone = Object.values(cluster.workers ?? {}).map((w) =>
    new Promise<void>((resolve) => {
      if (!w || w.isDead()) return resolve();
      w.on("exit", () => resolve());
      w.kill();
    })
  );
  await Promise.race([Promise.all(gone), new Promise((r) => setTimeout(r, 5000))]);
  process.exit(0);
}

// The worker's registry, held for the worker's life (its slot is released at exit).
let held: MemoryStatsRegistry | undefined;

function worker(): void {
  const rss = process.memoryUsage().rss;
  new AggregatorRegistry(); // installs the worker's answer to the primary's requests
  const g = new Gauge({ name: "arena_bytes", help: "memory figure of this process", labelNames: ["pid"] });
  g.set({ pid: String(process.pid) }, rss);
  held = MemoryStatsRegistry.open(segment, { create: false });
  held.registerSlot({ label: `worker-${cluster.worker?.id}` })!.set(rss);
  process.send!("ready");
}

if (cluster.isPrimary) {
  await primary(Number(workersArg), Number(callsArg));
} else {
  worker();
}
