/**
 * `deno serve --parallel`: one process, one isolate (a thread) per CPU,
 * each with its own heap, and each request lands on any of them. Every
 * isolate loads this module, so every isolate registers its own slot and
 * samples its own memory into the shared segment; `/metrics`, answered by
 * whichever isolate the request lands on, reads the whole segment and so
 * shows every isolate's figures.
 *
 * Run (2 isolates; without DENO_JOBS, one per CPU):
 *
 * ```sh
 * DENO_JOBS=2 deno serve --parallel --allow-all --port 8000 examples/deno_serve_parallel.ts
 * curl -s localhost:8000/metrics | grep memstats_slot_value
 * memstats show /memstats-serve-example
 * ```
 *
 * The segment's name comes from `MEMSTATS_SEGMENT`; every isolate and every
 * reader must use the same one. The slots are released when the isolates end.
 *
 * In your application, import from `"@memstats/shm"` (`jsr:` or `npm:`) rather than `"../mod.ts"`.
 */
import { MemoryStatsRegistry, SAMPLER_FIELDS, startSampler } from "../mod.ts";
import { renderMetrics } from "./metrics.ts";

const name = Deno.env.get("MEMSTATS_SEGMENT") || "/memstats-serve-example";
// The first isolate creates the segment; the others attach to it (same fields, so no SCHEMA error).
const registry = MemoryStatsRegistry.open(name, {
  capacity: 256,
  fields: ["arena_bytes", ...SAMPLER_FIELDS],
});
const sampler = startSampler(registry, { label: "deno-serve isolate", intervalMs: 1000 });
const slot = sampler.slot?.index ?? "none"; // null when the table is full

export default {
  fetch(req: Request): Response {
    const { pathname } = new URL(req.url);
    // Which isolate answered, so a caller can see that any of them gives the whole picture.
    const headers = { "x-memstats-slot": String(slot) };
    if (pathname === "/metrics") {
      return new Response(renderMetrics(registry), {
        headers: { ...headers, "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    }
    return new Response(`hello from the isolate in slot ${slot}\n`, { headers });
  },
} satisfies Deno.ServeDefaultExport;
