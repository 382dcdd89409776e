/**
 * The demo's HTTP app, shared by the Bun server processes (server.ts) and
 * the Node cluster's workers (node_server.ts): a labelled slot with a
 * memory sampler on the process's main thread, M Worker threads (worker.ts)
 * each with its own slot, and two routes:
 *
 * - `GET /work?kb=N&hold=MS` allocates a request buffer on the main thread,
 *   hands a job to a Worker, and answers when it is done;
 * - `GET /metrics` answers for every process and thread in the segment, in
 *   Prometheus text, through prom-client and `@memstats/shm/prom-client`.
 */
import { Registry } from "prom-client";
import { MemoryStatsRegistry, startSampler } from "../../mod.ts";
import { registerPromClientCollector } from "../../src/prom_client.ts";
import { newWorker, type TestWorker } from "../../tests/fixtures/threads.ts";

/** A running app. */
export interface App {
  /** The process's registry (its main thread's slot is labelled `label`). */
  readonly registry: MemoryStatsRegistry;
  /** Answer one request. */
  fetch(request: Request): Promise<Response>;
  /** Close the Workers (each releases its slot), then the registry. */
  close(): Promise<void>;
}

/** Open `segment`, register `label` and start `workers` Worker threads labelled `<label>/w<j>`. */
export async function startApp(segment: string, label: string, workers: number): Promise<App> {
  const registry = MemoryStatsRegistry.open(segment, { create: false });
  const slot = registry.registerSlot({ label });
  if (slot) startSampler(registry, { slot, intervalMs: 250 });
  const prom = new Registry();
  registerPromClientCollector(registry, prom);

  const pending = new Map<number, (rows: number) => void>();
  let nextId = 0;
  const threads: TestWorker[] = [];
  for (let j = 0; j < workers; j++) {
    const w = newWorker(new URL("./worker.ts", import.meta.url));
    threads.push(w);
    await new Promise<void>((resolve) => {
      w.onmessage = (e) => {
        if (e.data.op === "ready") resolve();
        else if (e.data.op === "done") {
          pending.get(e.data.id)?.(e.data.rows);
          pending.delete(e.data.id);
        }
      };
      w.postMessage({ op: "start", segment, label: `${label}/w${j}` });
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
      const w = threads[rr++ % threads.length];
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

  return {
    registry,
    async fetch(request) {
      const url = new URL(request.url);
      if (url.pathname === "/metrics") {
        return new Response(await prom.metrics(), { headers: { "content-type": prom.contentType } });
      }
      if (url.pathname !== "/work") return new Response("memstats demo\n");
      const kb = Math.min(16384, Math.max(1, Number(url.searchParams.get("kb")) || 64));
      const hold = Math.min(5000, Math.max(0, Number(url.searchParams.get("hold")) || 0));
      return await work(kb, hold);
    },
    async close() {
      await Promise.all(threads.map((w) =>
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
      for (const w of threads) w.terminate();
      registry.close();
    },
  };
}
