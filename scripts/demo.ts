/**
 * The memstats-shm demo, one command on a fresh clone:
 *
 *     npm install && npm run demo
 *
 * Starts a Bun HTTP server as N processes sharing one port (`reusePort`),
 * each with M Worker threads, every thread registered with a label and
 * sampling its own memory into one shared segment; a load generator sends
 * requests that allocate and free memory; a Deno process runs
 * `memstats watch` on the segment so you see the live table change. After
 * the duration (or when you press q) it stops everything, prints the peak
 * of every process and the totals, and removes the segment.
 *
 * Options: --processes N (2), --workers M (2), --duration s (20),
 * --segment name (/memstats-demo-<pid>), --interval ms (500),
 * --concurrency n (4).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { MemoryStatsRegistry, SAMPLER_FIELDS } from "../mod.ts";
import { CliError, optionHelp, type OptionSpec, parseArgs, UsageError } from "../src/cli/args.ts";
import { segmentPath } from "../src/cli/segments.ts";
import { summarise, Tracker } from "./demo/summary.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OPTIONS: OptionSpec[] = [
  {
    name: "processes",
    type: "integer",
    value: "N",
    min: 1,
    help: "Server processes sharing the port (default 2).",
  },
  { name: "workers", type: "integer", value: "M", min: 0, help: "Worker threads per process (default 2)." },
  { name: "duration", type: "integer", value: "s", min: 1, help: "Seconds to run (default 20)." },
  { name: "segment", type: "string", value: "name", help: "Segment name (default /memstats-demo-<pid>)." },
  {
    name: "interval",
    type: "integer",
    value: "ms",
    min: 50,
    help: "Refresh period of the watch (default 500).",
  },
  { name: "concurrency", type: "integer", value: "n", min: 1, help: "Requests in flight (default 4)." },
];
const FIELDS = ["arena_bytes", SAMPLER_FIELDS[0], SAMPLER_FIELDS[1], "requests"];

const children: ChildProcess[] = [];

function bin(name: string): string {
  const p = `${ROOT}node_modules/.bin/${name}`;
  return existsSync(p) ? p : name;
}

function start(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  stdio: "pipe" | "inherit",
): ChildProcess {
  const c = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: stdio === "inherit" ? ["inherit", "inherit", "inherit"] : ["pipe", "pipe", "pipe"],
  });
  children.push(c);
  return c;
}

function exited(c: ChildProcess): Promise<void> {
  return c.exitCode !== null || c.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => c.once("exit", () => r()));
}

/** SIGTERM, then SIGKILL if it is still there after `ms`. */
async function stop(c: ChildProcess, ms = 5000): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  c.kill("SIGTERM");
  const t = setTimeout(() => c.kill("SIGKILL"), ms);
  await exited(c);
  clearTimeout(t);
}

function firstLine(c: ChildProcess, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let stderr = "";
    c.stderr!.on("data", (d) => (stderr += d));
    const rl = createInterface({ input: c.stdout! });
    rl.once("line", (l) => resolve(l));
    c.once(
      "exit",
      (code) => reject(new CliError(`${what} exited (${code}) before it was ready: ${stderr.trim()}`)),
    );
  });
}

function freePort(): number {
  const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
  const port = s.port;
  s.stop(true);
  return port;
}

async function run(argv: string[]): Promise<number> {
  const args = parseArgs("demo", argv, OPTIONS);
  if (args.help || args.positional.length > 0) {
    if (args.positional.length > 0) throw new UsageError("demo", `unexpected argument ${args.positional[0]}`);
    console.log(`Usage: npm run demo -- [options]\n\n${optionHelp(OPTIONS)}`);
    return 0;
  }
  const o = args.options;
  const n = (o.processes as number | undefined) ?? 2;
  const m = (o.workers as number | undefined) ?? 2;
  const seconds = (o.duration as number | undefined) ?? 20;
  const interval = (o.interval as number | undefined) ?? 500;
  const raw = (o.segment as string | undefined) ?? `/memstats-demo-${process.pid}`;
  const segment = raw.startsWith("/") ? raw : `/${raw}`;
  const capacity = 2 ** Math.ceil(Math.log2(Math.max(16, n * (m + 1) + 4)));

  // Someone else's segment is never reused or removed: the demo owns only what it creates.
  const taken = () =>
    new CliError(`segment ${segment} already exists; pick another --segment or remove it with memstats rm`);
  if (existsSync(segmentPath(segment))) throw taken();
  const reg = MemoryStatsRegistry.open(segment, { capacity, fields: FIELDS });
  if (!reg.created) {
    reg.close();
    throw taken();
  }
  const tracker = new Tracker(reg);
  let cleanedUp = false;
  const cleanup = async () => {
    if (cleanedUp) return;
    cleanedUp = true;
    await Promise.all(children.map((c) => stop(c)));
    tracker.stop();
    reg.close();
    MemoryStatsRegistry.unlink(segment);
  };
  // Ctrl-C (or SIGTERM) at any point: stop what was started, remove the segment.
  let interrupt = () => {};
  const interrupted = new Promise<"interrupted">((r) => (interrupt = () => r("interrupted")));
  process.on("SIGINT", interrupt);
  process.on("SIGTERM", interrupt);
  try {
    const port = freePort();
    const env = { DEMO_SEGMENT: segment, DEMO_PORT: String(port), DEMO_WORKERS: String(m) };
    console.log(
      `memstats demo: ${n} Bun server process${n === 1 ? "" : "es"} × ${m} worker${m === 1 ? "" : "s"} ` +
        `on 127.0.0.1:${port}, segment ${segment}, ${seconds} s`,
    );
    const servers = Array.from(
      { length: n },
      (_, i) => start(bin("bun"), ["scripts/demo/server.ts"], { ...env, DEMO_INDEX: String(i) }, "pipe"),
    );
    const ready = Promise.all(servers.map((s, i) => firstLine(s, `server ${i}`)));
    if (await Promise.race([ready, interrupted]) === "interrupted") {
      await cleanup();
      console.log(`interrupted; segment ${segment} removed`);
      return 0;
    }
    tracker.start();
    const load = start(bin("bun"), ["scripts/demo/load.ts"], {
      ...env,
      DEMO_CONCURRENCY: String(o.concurrency ?? 4),
    }, "pipe");
    let loadResult = "";
    load.stdout!.on("data", (d) => (loadResult += d));
    const watchArgs = ["watch", segment, "--interval", String(interval)];
    const deno = bin("deno");
    const watcher = existsSync(deno)
      ? start(deno, ["run", "-A", "src/cli/main.ts", ...watchArgs], {}, "inherit")
      : start(bin("bun"), ["src/cli/main.ts", ...watchArgs], {}, "inherit");
    // Until the time is up, the watcher ends first (q or Ctrl-C in it), or a signal.
    await Promise.race([new Promise((r) => setTimeout(r, seconds * 1000)), exited(watcher), interrupted]);
    await stop(watcher);
    await stop(load);
    tracker.sample();
    const final = tracker.final();
    await cleanup();
    const { requests = 0, errors = 0 } = JSON.parse(loadResult.trim() || "{}");
    console.log(summarise(final, { requests, errors, seconds: tracker.elapsedSeconds() }));
    console.log(`segment ${segment} removed`);
    return 0;
  } finally {
    await cleanup();
  }
}

if (import.meta.main) {
  let code: number;
  try {
    code = await run(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`demo: ${e.message} (see npm run demo -- --help)`);
      code = 2;
    } else if (e instanceof CliError || (e as Error).name === "MemstatsError") {
      console.error(`demo: ${(e as Error).message}`);
      code = 1;
    } else throw e;
  }
  process.exit(code);
}
