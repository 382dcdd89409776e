/**
 * The server recipes in examples/: `deno serve --parallel` with 2 isolates
 * (threads of one process) and a Bun `reusePort` cluster of 2 processes.
 * Each isolate or process registers its own slot; every scrape of
 * `/metrics`, whichever of them answers, lists both slots, and both of
 * them answer some scrape. After the server stops, no reader counts them.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { cleanup, ROOT, runtimeBin, uniqueName, waitFor } from "./helpers.ts";

/** A port nobody listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface Scrape {
  /** Slot of the isolate or process that answered. */
  answeredBy: string;
  /** `pid/tid/label` of every slot listed. */
  slots: string[];
}

async function scrape(port: number): Promise<Scrape | undefined> {
  try {
    // A new connection each time, so that the kernel may hand it to any listener.
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { connection: "close" } });
    const body = await res.text();
    if (res.status !== 200) return undefined;
    const slots = [...body.matchAll(
      /^memstats_slot_value\{segment="[^"]*",slot="\d+",pid="(\d+)",tid="(\d+)",label="([^"]*)",field="heap_used_bytes"\} \d+$/gm,
    )].map((m) => `${m[1]}/${m[2]}/${m[3]}`);
    return { answeredBy: res.headers.get("x-memstats-slot") ?? "?", slots };
  } catch {
    return undefined; // not listening yet
  }
}

/**
 * Start a server (its own process group, so that stopping it reaches every
 * process it started), wait until both members are registered, then scrape
 * until both have answered: every scrape must list both members.
 */
async function exercise(
  argv: [string, string[]],
  env: Record<string, string>,
  port: number,
  name: string,
  check: (slots: string[]) => void,
): Promise<void> {
  let server: ChildProcess | undefined;
  let log = "";
  try {
    server = spawn(argv[0], argv[1], {
      cwd: ROOT,
      env: { ...process.env, ...env, MEMSTATS_SEGMENT: name },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    server.stdout!.on("data", (d) => (log += d));
    server.stderr!.on("data", (d) => (log += d));
    const exited = new Promise((r) => server!.on("exit", r));
    let first: Scrape | undefined;
    const end = Date.now() + 60_000;
    while (!(first && first.slots.length === 2)) {
      assert.ok(Date.now() < end, `both members never registered; server output:\n${log}`);
      assert.equal(server.exitCode, null, `server exited:\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
      first = await scrape(port);
    }
    check(first.slots);
    const answered = new Set<string>();
    let scrapes = 0;
    while (scrapes < 10 || answered.size < 2) {
      assert.ok(scrapes < 300, `only slot ${[...answered]} answered ${scrapes} scrapes`);
      const s = await scrape(port);
      assert.ok(s, `scrape ${scrapes} failed; server output:\n${log}`);
      assert.deepEqual(s.slots, first.slots, `scrape ${scrapes}, answered by slot ${s.answeredBy}`);
      answered.add(s.answeredBy);
      scrapes++;
    }
    assert.deepEqual([...answered].sort(), ["0", "1"], "each member answered a scrape");
    process.kill(-server.pid!, "SIGTERM");
    await exited;
    await waitFor(
      () => {
        using r = MemoryStatsRegistry.open(name, { readOnly: true, create: false });
        return r.aggregateStats().activeThreads === 0;
      },
      10_000,
      "no slot counted after the server stopped",
    );
  } finally {
    if (server?.pid !== undefined && server.exitCode === null && server.signalCode === null) {
      try {
        process.kill(-server.pid, "SIGKILL");
      } catch { /* already gone */ }
    }
    cleanup(name);
  }
}

describe("server recipes (examples/)", () => {
  it("deno serve --parallel with 2 isolates: every /metrics scrape, whichever isolate answers, lists both isolates' slots", async () => {
    const port = await freePort();
    const name = uniqueName("deno-serve");
    const argv: [string, string[]] = [runtimeBin("deno"), [
      "serve",
      "--parallel",
      "-A",
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      `${ROOT}examples/deno_serve_parallel.ts`,
    ]];
    await exercise(argv, { DENO_JOBS: "2", DENO_NO_UPDATE_CHECK: "1" }, port, name, (slots) => {
      const [a, b] = slots.map((s) => s.split("/"));
      assert.equal(a[0], b[0], "one process");
      assert.notEqual(a[1], b[1], "two threads");
      assert.deepEqual([a[2], b[2]], ["deno-serve isolate", "deno-serve isolate"]);
    });
  });

  it("a Bun reusePort cluster of 2 processes: every /metrics scrape, whichever process answers, lists both processes' slots", async () => {
    const port = await freePort();
    const name = uniqueName("bun-cluster");
    const argv: [string, string[]] = [runtimeBin("bun"), [`${ROOT}examples/bun_reuse_port.ts`]];
    await exercise(argv, { BUN_JOBS: "2", PORT: String(port), HOST: "127.0.0.1" }, port, name, (slots) => {
      const [a, b] = slots.map((s) => s.split("/"));
      assert.notEqual(a[0], b[0], "two processes");
      assert.deepEqual([a[2], b[2]].sort(), ["bun member 0", "bun member 1"]);
    });
  });
});
