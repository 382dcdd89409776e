/**
 * `memstats serve [name]`: an HTTP server for one segment, attached
 * read-only: Prometheus metrics, the JSON snapshot and a live dashboard
 * (see `src/serve/app.ts`). It runs until SIGINT, SIGTERM or SIGHUP, keeps
 * running while the segment is missing or corrupt (and says so on the page,
 * in `/metrics` and on stderr), and picks the segment up again when it comes
 * back. The table is read once a second; requests render from that read.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import process from "node:process";
import { type HttpServer, runtime } from "../runtime/mod.ts";
import { createHandler } from "../serve/app.ts";
import { BodyPool } from "../serve/bodies.ts";
import { allowHostEntry, hostPolicy, isLoopbackAddress } from "../serve/host.ts";
import { SegmentSource, type SourceState } from "../serve/source.ts";
import { CliError, type OptionSpec, type Parsed, UsageError } from "./args.ts";
import { err, out } from "./io.ts";
import { segmentName } from "./segments.ts";
import { ALLOW_FOREIGN } from "./show.ts";

/** Default port (the one OpenTelemetry's Prometheus exporter uses too). */
export const DEFAULT_PORT = 9464;
/** Default address: loopback only. */
export const DEFAULT_HOST = "127.0.0.1";

/** Options of `serve`. */
export const SERVE_OPTIONS: readonly OptionSpec[] = [
  {
    name: "host",
    type: "string",
    value: "address",
    help: `Address to listen on (default ${DEFAULT_HOST}: this machine only; 0.0.0.0 or :: for all).`,
  },
  {
    name: "port",
    type: "integer",
    value: "port",
    min: 0,
    help: `TCP port (default ${DEFAULT_PORT}; 0 picks a free one).`,
  },
  {
    name: "allow-host",
    type: "string",
    value: "names",
    help: "Also answer requests for these Host names, comma-separated; .example.com: any name under it.",
  },
  {
    name: "totals-only",
    type: "boolean",
    help: "Leave out the per-slot series and rows: totals and counts only, for very large tables.",
  },
  ALLOW_FOREIGN,
];

/** Tables with this many live slots get a hint at startup to consider --totals-only. */
const LARGE_BODY_SLOTS = 16_384;
/** After a response body of this many bytes ends, the runtime is asked to collect garbage. */
const LARGE_BODY_BYTES = 16 * 1024 * 1024;

/** `http://host:port/`, with brackets around an IPv6 address. */
function baseUrl(host: string, port: number): string {
  const h = host.includes(":") ? `[${host}]` : host;
  return `http://${h}:${port}/`;
}

function log(text: string): void {
  try {
    err(`memstats serve: ${text}\n`);
  } catch { /* stderr is gone: keep serving */ }
}

function describe(s: SourceState, prev: SourceState | undefined): string {
  if (s.up) {
    const { info, table } = s.frame;
    const what = prev?.up ? "replaced; now reading the new" : "reading";
    const dead = table.deadSlots > 0 ? ` (and ${table.deadSlots} dead, awaiting reclaim)` : "";
    const hint = s.frame.perSlot && table.count >= LARGE_BODY_SLOTS
      ? `; /metrics lists ${
        table.count * (2 * info.fields.length + 1)
      } per-slot series: --totals-only leaves them out`
      : "";
    return `${what} segment ${info.name}: ${table.count} of ${info.capacity} slots active${dead}, fields ${
      info.fields.join(", ")
    }${hint}`;
  }
  return `segment ${s.name} is unavailable: ${s.error.message} [${s.error.code}]; ` +
    `serving the error state and retrying every second`;
}

function listenFailure(e: unknown, host: string, port: number): never {
  const code = (e as { code?: unknown })?.code;
  if (code === "EADDRINUSE") {
    throw new CliError(
      `port ${port} is already in use on ${host}; stop the program listening there or choose another with --port`,
      "EADDRINUSE",
    );
  }
  if (code === "EACCES") {
    throw new CliError(
      `not permitted to listen on port ${port} of ${host}; ports below 1024 need privileges: choose another with --port`,
      "EACCES",
    );
  }
  if (code === "EADDRNOTAVAIL") {
    throw new CliError(
      `cannot listen on ${host}: not an address of this machine; use --host 127.0.0.1, 0.0.0.0 or one of its addresses`,
      "EADDRNOTAVAIL",
    );
  }
  throw e;
}

/** The `--allow-host` entries, canonical; a usage error names a bad one. */
function allowHostList(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(",").map((e) => e.trim()).filter((e) => e !== "").map((e) => {
    const h = allowHostEntry(e);
    if (h === undefined) {
      throw new UsageError(
        "serve",
        `--allow-host: ${
          JSON.stringify(e)
        } is not a host name or address (e.g. metrics.example.com or .example.com)`,
      );
    }
    return h;
  });
}

/**
 * This machine's names: its host name, the host name's first label, and the
 * names `/etc/hosts` gives on the same line as either. Whatever cannot be
 * read (Deno without --allow-sys or --allow-read) is left out.
 */
function ownNames(): string[] {
  const names = new Set<string>();
  try {
    const h = hostname().toLowerCase();
    if (h !== "") names.add(h).add(h.split(".")[0]);
  } catch { /* not permitted */ }
  try {
    for (const line of readFileSync("/etc/hosts", "utf8").split("\n")) {
      const words = line.replace(/#.*/, "").trim().toLowerCase().split(/\s+/).slice(1);
      if (!words.some((w) => names.has(w))) continue;
      for (const w of words) names.add(w);
    }
  } catch { /* not readable */ }
  return [...names];
}

/** Run `serve`; resolves with the exit code when a signal stops it. */
export async function serve(args: Parsed): Promise<number> {
  const o = args.options;
  const host = (o.host as string | undefined) ?? DEFAULT_HOST;
  const port = (o.port as number | undefined) ?? DEFAULT_PORT;
  if (port > 65535) throw new UsageError("serve", `--port must be at most 65535, got ${port}`);
  if (host.trim() === "") throw new UsageError("serve", "--host needs an address, e.g. 127.0.0.1");
  const allowHosts = allowHostList(o["allow-host"] as string | undefined);
  const source = new SegmentSource(segmentName(args.positional[0]), {
    allowForeign: o["allow-foreign"] === true,
    perSlot: o["totals-only"] !== true,
    onChange: (s, prev) => log(describe(s, prev)),
  });
  // Unexpected failures: the first with its stack, for a bug report; then one line a minute at most.
  let failures = 0;
  let lastFailureLog = -Infinity;
  const onError = (e: unknown) => {
    failures++;
    const now = Date.now();
    if (now - lastFailureLog < 60_000) return;
    lastFailureLog = now;
    log(
      failures === 1
        ? `unexpected failure answering a request: ${(e as Error)?.stack ?? e}`
        : `unexpected failure answering a request (${failures} so far): ${(e as Error)?.message ?? e}`,
    );
  };
  // Bun's collector lets dead bodies of tens of MB pile up (several hundred MB with a large table):
  // collect once a large one has ended.
  const rt = runtime();
  const pool = new BodyPool({
    onError,
    onBodyEnd: (bytes) => {
      if (bytes >= LARGE_BODY_BYTES) rt.collectGarbage?.();
    },
  });
  const handler = createHandler(source, {
    hosts: hostPolicy(host, allowHosts, isLoopbackAddress(host) ? [] : ownNames()),
    pool,
    onError,
  });
  let server: HttpServer;
  try {
    server = await rt.serveHttp({ hostname: host, port }, handler);
  } catch (e) {
    source.close();
    listenFailure(e, host, port);
  }
  source.sample(); // after listening: a taken port is the only line on stderr
  const url = baseUrl(host, server.port);
  try {
    out(
      `serving ${source.name} on ${url} (metrics: ${url}metrics, JSON: ${url}api/snapshot); Ctrl-C to stop\n`,
    );
  } catch { /* nobody reads stdout: keep serving */ }
  // One read a second; less often when a read takes longer than 200 ms (see sampleIntervalMs).
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = () => {
    const s = source.sample();
    if (s.up) pool.advance(s.frame.id); // the last frame's bodies end once their readers are done
    timer = setTimeout(tick, source.sampleIntervalMs);
  };
  timer = setTimeout(tick, source.sampleIntervalMs);
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  await new Promise<void>((resolve) => {
    const stop = () => {
      for (const s of signals) process.off(s, stop);
      resolve();
    };
    for (const s of signals) process.on(s, stop);
  });
  clearTimeout(timer);
  pool.close(); // cut off responses still streaming, so closing does not wait for slow clients
  await server.close();
  source.close();
  return 0;
}
