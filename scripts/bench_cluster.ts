/**
 * The prom-client baseline of `scripts/bench.ts`: a `node:cluster` primary
 * with N worker processes, each holding one gauge with its own memory figure
 * (labelled by pid, so the primary sees every process's value, as
 * `perThreadStats()` does), and the primary timing
 * `AggregatorRegistry.clusterMetrics()`, which asks every worker over IPC
 * and merges the answers.
 *
 * Usage (from bench.ts): `<runtime> scripts/bench_cluster.ts <workers> <calls>`.
 * Prints one JSON line: `{ samples: [ns per call...], series: N }`.
 *
 * @module
 */
import cluster from "node:cluster";
import process from "node:process";
import { AggregatorRegistry, Gauge } from "prom-client";

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
  let text = "";
  for (let i = 0; i < Math.min(20, calls); i++) text = await agg.clusterMetrics(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    text = await agg.clusterMetrics();
    samples.push((performance.now() - t0) * 1e6);
  }
  const series = text.split("\n").filter((l) => l.startsWith("arena_bytes{")).length;
  process.stdout.write(JSON.stringify({ samples, series }) + "\n");
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

function worker(): void {
  new AggregatorRegistry(); // installs the worker's answer to the primary's requests
  const g = new Gauge({ name: "arena_bytes", help: "memory figure of this process", labelNames: ["pid"] });
  g.set({ pid: String(process.pid) }, process.memoryUsage().rss);
  process.send!("ready");
}

if (cluster.isPrimary) {
  await primary(Number(process.argv[2] ?? 8), Number(process.argv[3] ?? 100));
} else {
  worker();
}
