/**
 * `memstats serve [name]`: an HTTP server for one segment, attached
 * read-only: Prometheus metrics, the JSON snapshot and a live dashboard
 * (see `src/serve/app.ts`). It runs until SIGINT, SIGTERM or SIGHUP, keeps
 * running while the segment is missing or corrupt (and says so on the page,
 * in `/metrics` and on stderr), and picks the segment up again when it comes
 * back.
 *
 * @module
 */
import process from "node:process";
import { type HttpServer, runtime } from "../runtime/mod.ts";
import { createHandler, isLoopbackHost } from "../serve/app.ts";
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
  ALLOW_FOREIGN,
];

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
    const snap = s.snapshot;
    const what = prev?.up ? "replaced; now reading the new" : "reading";
    return `${what} segment ${snap.name}: ${snap.activeThreads} of ${snap.capacity} slots active, fields ${
      snap.fields.join(", ")
    }`;
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

/** Run `serve`; resolves with the exit code when a signal stops it. */
export async function serve(args: Parsed): Promise<number> {
  const o = args.options;
  const host = (o.host as string | undefined) ?? DEFAULT_HOST;
  const port = (o.port as number | undefined) ?? DEFAULT_PORT;
  if (port > 65535) throw new UsageError("serve", `--port must be at most 65535, got ${port}`);
  if (host.trim() === "") throw new UsageError("serve", "--host needs an address, e.g. 127.0.0.1");
  const source = new SegmentSource(segmentName(args.positional[0]), {
    allowForeign: o["allow-foreign"] === true,
    onChange: (s, prev) => log(describe(s, prev)),
  });
  const handler = createHandler(source, {
    loopbackOnly: isLoopbackHost(host),
    onError: (e) => log(`unexpected failure answering a request: ${(e as Error)?.stack ?? e}`),
  });
  let server: HttpServer;
  try {
    server = await runtime().serveHttp({ hostname: host, port }, handler);
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
  const timer = setInterval(() => source.sample(), 1000);
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  await new Promise<void>((resolve) => {
    const stop = () => {
      for (const s of signals) process.off(s, stop);
      resolve();
    };
    for (const s of signals) process.on(s, stop);
  });
  clearInterval(timer);
  await server.close();
  source.close();
  return 0;
}
