/**
 * Demo HTTP server (Node): a `node:cluster` primary and K worker processes
 * sharing one port, each worker running the demo app (app.ts) with M
 * `worker_threads`, in the same segment as the Bun servers. The primary has
 * a slot too (label `node`), the workers are `node-<id>` and their threads
 * `node-<id>/w<j>`. Any worker's `/metrics` answers for every process of
 * the demo, Bun's included, through `@memstats/shm/prom-client`.
 *
 * Prints "ready <primary pid> <worker pids...>" once every worker listens.
 * Ends on SIGTERM, or when its stdin closes (the demo died); workers end
 * with the primary. `kill -QUIT <pid>` of any of its processes prints that
 * process's memstats report on stderr, which the demo passes on.
 */
import cluster from "node:cluster";
import process from "node:process";
import { installDiagnostics, MemoryStatsRegistry, startSampler } from "../../mod.ts";
import { runtime } from "../../src/runtime/mod.ts";
import { startApp } from "./app.ts";

const segment = process.env.DEMO_SEGMENT!;
const port = Number(process.env.DEMO_NODE_PORT);
const processes = Number(process.env.DEMO_NODE_PROCESSES);
const workerCount = Number(process.env.DEMO_WORKERS);

function primary(): void {
  const registry = MemoryStatsRegistry.open(segment, { create: false });
  const slot = registry.registerSlot({ label: "node" });
  if (slot) startSampler(registry, { slot, intervalMs: 250 });
  installDiagnostics(registry);
  const workers = Array.from({ length: processes }, () => cluster.fork());
  let listening = 0;
  for (const w of workers) {
    w.on("message", (m: unknown) => {
      if (m === "listening" && ++listening === workers.length) {
        console.log(`ready ${process.pid} ${workers.map((x) => x.process.pid).join(" ")}`);
      }
    });
  }
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    for (const w of workers) w.process.kill("SIGTERM");
    const done = () => {
      registry.close();
      process.exit(0);
    };
    let left = workers.filter((w) => !w.isDead()).length;
    if (left === 0) done();
    for (const w of workers) w.once("exit", () => --left === 0 && done());
    setTimeout(done, 5000).unref();
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", () => {}); // Ctrl-C reaches the whole group: let the demo shut us down in order
  process.stdin.on("end", shutdown);
  process.stdin.resume();
}

async function worker(): Promise<void> {
  const app = await startApp(segment, `node-${cluster.worker!.id}`, workerCount);
  installDiagnostics(app.registry);
  const server = await runtime().serveHttp({ hostname: "127.0.0.1", port }, (req) => app.fetch(req));
  let stopping = false;
  process.on("SIGTERM", async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    await app.close();
    process.exit(0);
  });
  process.on("SIGINT", () => {});
  process.send!("listening");
}

if (cluster.isPrimary) primary();
else await worker();
