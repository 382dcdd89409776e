/**
 * The memstats-shm demo, one command on a fresh clone:
 *
 *     npm install && npm run demo
 *
 * Starts a Bun HTTP server as N processes sharing one port (`reusePort`)
 * and a Node `cluster` server as a primary and K worker processes sharing
 * another, each server process with M Worker threads, every thread
 * registered with a label and sampling its own memory into one shared
 * segment; a load generator sends requests to both that allocate and free
 * memory; a Deno process runs `memstats watch` on the segment so you see the
 * live table change. The servers' stderr (their `kill -QUIT` reports) is
 * passed on: at once when the demo's output is not a terminal, after the
 * live view otherwise. After the duration (or when you press q) it stops
 * everything, prints the peak of every process and the totals, and removes
 * the segment.
 *
 * Options: --processes N (2), --node-processes K (2; 0: no Node cluster),
 * --workers M (2), --duration s (20), --segment name
 * (/memstats-demo-<pid>), --interval ms (500), --concurrency n (4).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
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
  {
    name: "node-processes",
    type: "integer",
    value: "K",
    min: 0,
    help: "Worker processes of the Node cluster server (default 2; 0: no Node server).",
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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      s.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/**
 * The servers' stderr, where `kill -QUIT <pid>` prints a report: passed on
 * at once, except while the live view owns the terminal (it would draw over
 * it), when it is held and printed after the view ends.
 */
class StderrRelay {
  #held = "";
  #holding = false;

  /** Pass on everything `c` writes to its stderr from now on. */
  follow(c: ChildProcess): void {
    c.stderr!.on("data", (d) => {
      if (this.#holding) this.#held += d;
      else process.stderr.write(d);
    });
  }

  /** Hold output from now on. */
  hold(): void {
    this.#holding = true;
  }

  /** Print what was held, and pass on at once from now on. */
  release(): void {
    this.#holding = false;
    if (this.#held !== "") {
      process.stderr.write(`\nwhat the servers wrote to stderr during the live view:\n${this.#held}`);
    }
    this.#held = "";
  }
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
  const k = (o["node-processes"] as number | undefined) ?? 2;
  const m = (o.workers as number | undefined) ?? 2;
  const seconds = (o.duration as number | undefined) ?? 20;
  const interval = (o.interval as number | undefined) ?? 500;
  const raw = (o.segment as string | undefined) ?? `/memstats-demo-${process.pid}`;
  const segment = raw.startsWith("/") ? raw : `/${raw}`;
  const threads = n * (m + 1) + (k > 0 ? 1 + k * (m + 1) : 0);
  const capacity = 2 ** Math.ceil(Math.log2(Math.max(16, threads + 4)));

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
    const port = await freePort();
    const nodePort = k > 0 ? await freePort() : 0;
    const env = {
      DEMO_SEGMENT: segment,
      DEMO_PORT: String(port),
      DEMO_NODE_PORT: String(nodePort),
      DEMO_NODE_PROCESSES: String(k),
      DEMO_WORKERS: String(m),
    };
    const workers = `${m} worker${m === 1 ? "" : "s"}`;
    console.log(
      `memstats demo: ${n} Bun server process${n === 1 ? "" : "es"} × ${workers} on 127.0.0.1:${port}` +
        (k > 0
          ? `, a Node cluster of ${k} process${k === 1 ? "" : "es"} × ${workers} on 127.0.0.1:${nodePort}`
          : "") +
        `, segment ${segment}, ${seconds} s`,
    );
    const servers = Array.from(
      { length: n },
      (_, i) => start(bin("bun"), ["scripts/demo/server.ts"], { ...env, DEMO_INDEX: String(i) }, "pipe"),
    );
    if (k > 0) servers.push(start(bin("node"), ["scripts/demo/node_server.ts"], env, "pipe"));
    const names = servers.map((_, i) => (i < n ? `server ${i}` : "the Node cluster"));
    const ready = Promise.all(servers.map((s, i) => firstLine(s, names[i])));
    const lines = await Promise.race([ready, interrupted]);
    if (lines === "interrupted") {
      await cleanup();
      console.log(`interrupted; segment ${segment} removed`);
      return 0;
    }
    const pids = lines.flatMap((l, i) => {
      const [, first, ...rest] = l.split(" ");
      return i < n ? [`http-${i} ${first}`] : [`node ${first}`, ...rest.map((p, j) => `node-${j + 1} ${p}`)];
    });
    console.log(`server pids: ${pids.join(", ")}; \`kill -QUIT <pid>\` prints that process's report`);
    const relay = new StderrRelay();
    for (const s of servers) relay.follow(s);
    tracker.start();
    const load = start(bin("bun"), ["scripts/demo/load.ts"], {
      ...env,
      DEMO_PORTS: [port, ...(k > 0 ? [nodePort] : [])].join(","),
      DEMO_CONCURRENCY: String(o.concurrency ?? 4),
    }, "pipe");
    let loadResult = "";
    load.stdout!.on("data", (d) => (loadResult += d));
    const watchArgs = ["watch", segment, "--interval", String(interval)];
    const deno = bin("deno");
    if (process.stdout.isTTY) relay.hold(); // the watch takes the whole screen
    const watcher = existsSync(deno)
      ? start(deno, ["run", "-A", "src/cli/main.ts", ...watchArgs], {}, "inherit")
      : start(bin("bun"), ["src/cli/main.ts", ...watchArgs], {}, "inherit");
    // Until the time is up, the watcher ends first (q or Ctrl-C in it), or a signal.
    await Promise.race([new Promise((r) => setTimeout(r, seconds * 1000)), exited(watcher), interrupted]);
    await stop(watcher);
    relay.release();
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
