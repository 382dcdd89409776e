/**
 * A Bun cluster: N processes listen on one port with `reusePort` (Linux
 * spreads connections over them), each registers its own slot and samples
 * its own memory into the shared segment; `/metrics`, answered by whichever
 * process the connection lands on, reads the whole segment and so shows
 * every process's figures. Bun's equivalent of `deno serve --parallel`
 * (examples/deno_serve_parallel.ts).
 *
 * Run (2 processes; without BUN_JOBS, one per CPU):
 *
 * ```sh
 * BUN_JOBS=2 PORT=8000 bun examples/bun_reuse_port.ts
 * curl -s localhost:8000/metrics | grep memstats_slot_value
 * memstats show /memstats-serve-example
 * ```
 *
 * The segment's name comes from `MEMSTATS_SEGMENT`; every process and every
 * reader must use the same one. The first process creates the segment
 * before the others start, so they attach rather than race to create it.
 * Stop the cluster with Ctrl-C or SIGTERM: each process releases its slot as
 * it exits, and a process killed outright is left out of every read within a
 * second (`memstats gc` frees its slot).
 *
 * In your application, import from `"@memstats/shm"` (`jsr:` or `npm:`) rather than `"../mod.ts"`.
 */
import { availableParallelism } from "node:os";
import process from "node:process";
import { MemoryStatsRegistry, SAMPLER_FIELDS, startSampler } from "../mod.ts";
import { renderMetrics } from "./metrics.ts";

const name = process.env.MEMSTATS_SEGMENT || "/memstats-serve-example";
const port = Number(process.env.PORT ?? 8000);
const hostname = process.env.HOST ?? "127.0.0.1";
const fields = ["arena_bytes", ...SAMPLER_FIELDS];

if (process.env.MEMSTATS_CLUSTER_MEMBER === undefined) {
  // The parent: create the segment once, start the members, pass signals on, end when they end.
  MemoryStatsRegistry.open(name, { capacity: 256, fields }).close();
  const jobs = Number(process.env.BUN_JOBS) || availableParallelism();
  const members = Array.from({ length: jobs }, (_, i) =>
    Bun.spawn([process.execPath, import.meta.path], {
      env: { ...process.env, MEMSTATS_CLUSTER_MEMBER: String(i) },
      stdio: ["inherit", "inherit", "inherit"],
    }));
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => members.forEach((m) => m.kill(signal)));
  }
  console.log(`bun cluster: ${jobs} processes on http://${hostname}:${port}/ writing ${name}`);
  const codes = await Promise.all(members.map((m) => m.exited));
  process.exit(codes.find((c) => c !== 0) ?? 0);
} else {
  const registry = MemoryStatsRegistry.open(name, { fields });
  const member = process.env.MEMSTATS_CLUSTER_MEMBER;
  const sampler = startSampler(registry, { label: `bun member ${member}`, intervalMs: 1000 });
  const slot = sampler.slot?.index ?? "none"; // null when the table is full
  const server = Bun.serve({
    hostname,
    port,
    reusePort: true,
    fetch(req) {
      const { pathname } = new URL(req.url);
      // Which process answered, so a caller can see that any of them gives the whole picture.
      const headers = { "x-memstats-slot": String(slot) };
      if (pathname === "/metrics") {
        return new Response(renderMetrics(registry), {
          headers: { ...headers, "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      }
      return new Response(`hello from the process in slot ${slot}\n`, { headers });
    },
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      server.stop();
      process.exit(0); // the registry's exit hook releases this process's slot
    });
  }
}
