/**
 * `memstats serve` under load: a table of `--slots` live slots of
 * `--fields` fields, then `--requests` concurrent `/metrics` requests, in
 * `--rounds` rounds. Measures the time until every response is complete,
 * the body size, and the server's resident memory (sampled every 20 ms,
 * and the kernel's high-water mark).
 *
 *     bun scripts/serve_load.ts [--runtime bun|deno] [--slots 65536] [--fields 4]
 *         [--requests 20] [--rounds 3] [--totals-only] [--root dir]
 *
 * `--root` runs the `memstats` of another checkout (e.g. the code before a
 * change) against the same load. This process is the writer (it registers
 * every slot); the server is a child process; each request is a `curl`
 * process (`--client fetch`: this process's `fetch`, which competes with the
 * server for the CPU and reads more slowly).
 *
 * {@linkcode serveLoad} returns the figures and {@linkcode loadTable}
 * renders them as a Markdown table for BENCHMARKS.md.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { MemoryStatsRegistry } from "../mod.ts";
import { parseArgs } from "../src/cli/args.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** What to measure. */
export interface LoadOptions {
  /** Runtime of the server (default bun). */
  readonly runtime?: "bun" | "deno";
  /** Live slots (default 65,536). */
  readonly slots?: number;
  /** Fields per slot (default 4). */
  readonly fields?: number;
  /** Concurrent requests per round (default 20). */
  readonly requests?: number;
  /** Rounds (default 3). */
  readonly rounds?: number;
  /** Serve with --totals-only. */
  readonly totalsOnly?: boolean;
  /** Checkout whose src/cli/main.ts serves (default this one). */
  readonly root?: string;
  /** Client: one `curl` process per request (default), or this process's `fetch`. */
  readonly client?: "curl" | "fetch";
}

/** One round: `requests` concurrent requests. */
export interface LoadRound {
  /** From sending the first request to the end of the last response, ms. */
  readonly wallMs: number;
  /** Slowest and fastest complete response, ms. */
  readonly slowestMs: number;
  readonly fastestMs: number;
  /** Bytes of one body (all equal when `identical`). */
  readonly bodyBytes: number;
  /** Whether every response had status 200 and the same length. */
  readonly identical: boolean;
  /** Statuses other than 200, if any. */
  readonly failures: number;
  /** `memstats_active_slots` and `memstats_skipped_slots` of a request right after the round. */
  readonly active: number;
  readonly skipped: number;
}

/** The figures of a run. */
export interface LoadResult {
  readonly runtime: string;
  readonly slots: number;
  readonly fields: number;
  readonly requests: number;
  readonly totalsOnly: boolean;
  readonly root: string;
  readonly client: string;
  /** Server RSS before the first round, MB. */
  readonly idleRssMb: number;
  /** Highest RSS sampled during the rounds, MB. */
  readonly peakRssMb: number;
  /** The kernel's high-water mark of the server's RSS (VmHWM), MB. */
  readonly hwmRssMb: number;
  readonly rounds: readonly LoadRound[];
}

function statusKb(pid: number, key: string): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function bin(rt: string): string {
  return `${ROOT}node_modules/.bin/${rt}`;
}

async function startServer(
  rt: "bun" | "deno",
  root: string,
  args: string[],
): Promise<{ proc: ChildProcess; url: string; stderr: () => string }> {
  const main = `${root.replace(/\/?$/, "/")}src/cli/main.ts`;
  const argv = rt === "bun" ? [main, "serve", ...args] : ["run", "-A", main, "serve", ...args];
  const proc = spawn(bin(rt), argv, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (err += d));
  const end = Date.now() + 120_000;
  for (;;) {
    const m = / on (http:\/\/\S+?\/) /.exec(out);
    if (m && /reading segment/.test(err)) return { proc, url: m[1], stderr: () => err };
    if (proc.exitCode !== null || Date.now() > end) throw new Error(`memstats serve did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One request by a curl process (a client outside this process, like a scraper). */
function curlCount(url: string): Promise<{ status: number; bytes: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url]);
    let out = "";
    c.stdout!.on("data", (d) => (out += d));
    c.on("error", reject);
    c.on("close", () => {
      const [status, bytes] = out.trim().split(" ").map(Number);
      resolve({ status, bytes, ms: performance.now() - t0 });
    });
  });
}

/** One request by this process's fetch. */
async function fetchCount(url: string): Promise<{ status: number; bytes: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(url);
  let bytes = 0;
  const reader = res.body!.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
  }
  return { status: res.status, bytes, ms: performance.now() - t0 };
}

/** Run the load; see the module documentation. */
export async function serveLoad(options: LoadOptions = {}): Promise<LoadResult> {
  const rt = options.runtime ?? "bun";
  const slots = options.slots ?? 65_536;
  const fieldCount = options.fields ?? 4;
  const requests = options.requests ?? 20;
  const roundCount = options.rounds ?? 3;
  const root = options.root ?? ROOT;
  const client = options.client ?? "curl";
  const get = client === "curl" ? curlCount : fetchCount;
  const name = `/memstats-load-${process.pid}`;
  const fields = ["arena_bytes", "rss_bytes", "heap_used_bytes", "requests", "external_bytes", "sockets"]
    .slice(0, fieldCount);
  for (let j = fields.length; j < fieldCount; j++) fields.push(`field_${j}`);
  MemoryStatsRegistry.unlink(name);
  const reg = MemoryStatsRegistry.open(name, { capacity: slots, fields });
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    for (let i = 0; i < slots; i++) {
      const s = reg.registerSlot({ label: `worker-${i}` });
      if (s === null) throw new Error(`slot ${i} refused`);
      for (const [j, f] of fields.entries()) s.set(f, 1_000_000 + i * 17 + j);
    }
    server = await startServer(rt, root, [
      name,
      "--port",
      "0",
      ...(options.totalsOnly ? ["--totals-only"] : []),
    ]);
    const pid = server.proc.pid!;
    await new Promise((r) => setTimeout(r, 2500)); // the first reads (labels decoded once)
    const idle = statusKb(pid, "VmRSS");
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, statusKb(pid, "VmRSS"))), 20);
    const rounds: LoadRound[] = [];
    try {
      for (let r = 0; r < roundCount; r++) {
        const t0 = performance.now();
        const res = await Promise.all(Array.from({ length: requests }, () => get(`${server!.url}metrics`)));
        const wallMs = performance.now() - t0;
        const ok = res.filter((x) => x.status === 200);
        const after = await (await fetch(`${server!.url}metrics`)).text();
        const gauge = (metric: string) =>
          Number(new RegExp(`^${metric}\\{[^}]*\\} (\\d+)$`, "m").exec(after)?.[1]);
        rounds.push({
          wallMs,
          slowestMs: Math.max(...res.map((x) => x.ms)),
          fastestMs: Math.min(...res.map((x) => x.ms)),
          bodyBytes: ok[0]?.bytes ?? 0,
          identical: ok.length === res.length && ok.every((x) => x.bytes === ok[0].bytes),
          failures: res.length - ok.length,
          active: gauge("memstats_active_slots"),
          skipped: gauge("memstats_skipped_slots"),
        });
        await new Promise((r) => setTimeout(r, 1500));
      }
    } finally {
      clearInterval(sampler);
    }
    const hwm = statusKb(pid, "VmHWM");
    return {
      runtime: rt,
      slots,
      fields: fieldCount,
      requests,
      totalsOnly: options.totalsOnly === true,
      root,
      client,
      idleRssMb: idle / 1024,
      peakRssMb: peak / 1024,
      hwmRssMb: hwm / 1024,
      rounds,
    };
  } finally {
    if (server) {
      server.proc.kill("SIGKILL");
      await new Promise((r) =>
        server!.proc.exitCode !== null || server!.proc.signalCode !== null
          ? r(null)
          : server!.proc.once("exit", r)
      );
    }
    reg.close();
    MemoryStatsRegistry.unlink(name);
  }
}

/** The results as a Markdown table, one row per run. */
export function loadTable(results: readonly LoadResult[]): string {
  const mb = (n: number) => n.toFixed(0);
  const s = (ms: number) => (ms / 1000).toFixed(2);
  const lines = [
    "| Server | Client | Table | Mode | Requests | Body | All done (s), per round | Slowest (s) | RSS idle / peak / high-water (MB) | All 200, same length | Rows (skipped) |",
    "| ------ | ------ | ----- | ---- | -------: | ---: | ----------------------- | ----------: | --------------------------------- | -------------------- | -------------- |",
  ];
  for (const r of results) {
    lines.push(
      `| ${r.runtime}${r.root === ROOT ? "" : ` (${r.root})`} | ${r.client} | ${
        r.slots.toLocaleString("en")
      } × ${r.fields} | ${r.totalsOnly ? "totals only" : "per slot"} | ${r.requests} | ${
        (r.rounds[0]?.bodyBytes / 1e6).toFixed(1)
      } MB | ${r.rounds.map((x) => s(x.wallMs)).join(", ")} | ${
        s(Math.max(...r.rounds.map((x) => x.slowestMs)))
      } | ${mb(r.idleRssMb)} / ${mb(r.peakRssMb)} / ${mb(r.hwmRssMb)} | ${
        r.rounds.every((x) => x.identical)
          ? "yes"
          : `no (${r.rounds.map((x) => x.failures).join(", ")} failed)`
      } | ${r.rounds.map((x) => `${x.active} (${x.skipped})`).join(", ")} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const args = parseArgs("serve_load", process.argv.slice(2), [
    { name: "runtime", type: "string", value: "bun|deno", help: "Runtime of the server (default bun)." },
    { name: "slots", type: "integer", value: "n", min: 1, help: "Live slots (default 65536)." },
    { name: "fields", type: "integer", value: "n", min: 1, help: "Fields per slot (default 4)." },
    { name: "requests", type: "integer", value: "n", min: 1, help: "Concurrent requests (default 20)." },
    { name: "rounds", type: "integer", value: "n", min: 1, help: "Rounds (default 3)." },
    { name: "totals-only", type: "boolean", help: "Serve with --totals-only." },
    { name: "root", type: "string", value: "dir", help: "Checkout to run memstats from (default this one)." },
    {
      name: "client",
      type: "string",
      value: "curl|fetch",
      help: "Client (default curl: one process a request).",
    },
  ]);
  const o = args.options;
  const runtime = (o.runtime as string | undefined) ?? "bun";
  if (runtime !== "bun" && runtime !== "deno") throw new Error("--runtime must be bun or deno");
  const result = await serveLoad({
    runtime,
    slots: o.slots as number | undefined,
    fields: o.fields as number | undefined,
    requests: o.requests as number | undefined,
    rounds: o.rounds as number | undefined,
    totalsOnly: o["totals-only"] === true,
    root: o.root as string | undefined,
    client: o.client === "fetch" ? "fetch" : "curl",
  });
  console.log(JSON.stringify(result));
  console.log(loadTable([result]));
}
