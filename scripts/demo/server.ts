/**
 * Demo HTTP server process (Bun): one of N processes sharing one port with
 * `reusePort`, each with M Worker threads. Every thread has a labelled slot
 * and a memory sampler. `GET /work?kb=N&hold=MS` allocates a request buffer
 * on the main thread, hands a job to a Worker, and answers when it is done.
 *
 * Prints "ready <pid>" once listening. Ends on SIGTERM, or when its stdin
 * closes (the demo died). `kill -QUIT <pid>` prints the memstats report.
 */
import process from "node:process";
import { installDiagnostics, MemoryStatsRegistry, startSampler } from "../../mod.ts";

const segment = process.env.DEMO_SEGMENT!;
const port = Number(process.env.DEMO_PORT);
const index = Number(process.env.DEMO_INDEX);
const workerCount = Number(process.env.DEMO_WORKERS);

const reg = MemoryStatsRegistry.open(segment, { create: false });
const slot = reg.registerSlot({ label: `http-${index}` });
if (slot) startSampler(reg, { slot, intervalMs: 250 });
installDiagnostics(reg);

type Pending = (rows: number) => void;
const pending = new Map<number, Pending>();
let nextId = 0;
const workers: Worker[] = [];
for (let j = 0; j < workerCount; j++) {
  const w = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
  workers.push(w);
  await new Promise<void>((resolve) => {
    w.onmessage = (e) => {
      if (e.data.op === "ready") resolve();
      else if (e.data.op === "done") {
        pending.get(e.data.id)?.(e.data.rows);
        pending.delete(e.data.id);
      }
    };
    w.postMessage({ op: "start", segment, label: `http-${index}/w${j}` });
  });
}

let held = 0;
let requests = 0;
let rr = 0;

async function work(kb: number, holdMs: number): Promise<Response> {
  const body = new Uint8Array(Math.max(1, kb >> 2) * 1024); // the request's own buffer
  held += body.length;
  requests++;
  slot?.update({ arena_bytes: held, requests });
  try {
    const id = nextId++;
    const w = workers[rr++ % workers.length];
    const rows = w
      ? await new Promise<number>((resolve) => {
        pending.set(id, resolve);
        w.postMessage({ op: "job", id, kb, holdMs });
      })
      : 0;
    return new Response(`ok ${rows}\n`);
  } finally {
    held -= body.length;
    slot?.set("arena_bytes", held);
  }
}

const server = Bun.serve({
  port,
  hostname: "127.0.0.1",
  reusePort: true,
  fetch(req) {
    const url = new URL(req.url);
    if (url.pathname !== "/work") return new Response("memstats demo\n");
    const kb = Math.min(16384, Math.max(1, Number(url.searchParams.get("kb")) || 64));
    const hold = Math.min(5000, Math.max(0, Number(url.searchParams.get("hold")) || 0));
    return work(kb, hold);
  },
});

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  server.stop(true);
  await Promise.all(workers.map((w) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 2000);
      w.onmessage = (e) => {
        if (e.data.op === "closed") {
          clearTimeout(t);
          resolve();
        }
      };
      w.postMessage({ op: "close" });
    })
  ));
  for (const w of workers) w.terminate();
  reg.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", () => {}); // Ctrl-C reaches the whole group: let the demo shut us down in order
process.stdin.on("end", shutdown);
process.stdin.resume();
console.log(`ready ${process.pid}`);
