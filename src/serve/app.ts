/**
 * The HTTP side of `memstats serve`: a request handler over a
 * {@linkcode SegmentSource}, independent of the runtime's server.
 *
 * | Path             | Answer                                                                   |
 * | ---------------- | ------------------------------------------------------------------------ |
 * | `/metrics`       | `show --prom` plus `memstats_segment_up`; OpenMetrics 1.0 when `Accept` asks |
 * | `/api/snapshot`  | the `show --json` document (`?limit=N`: the first N slots); 503 with `{error}` while the segment is down |
 * | `/api/history`   | totals of the last minutes, one point a second                           |
 * | `/`              | the dashboard (HTML, CSS and script served from here: works offline)     |
 *
 * Every request's `Host` is checked first, against the policy of the bound
 * address (see `host.ts`), before its URL is parsed: a malformed one is a
 * 400, one not allowed a 403. `/metrics` and `/api/snapshot` render from
 * the frame of the current second, streamed in chunks and shared between
 * the requests of that second (see `bodies.ts`).
 *
 * @module
 */
import {
  acceptsOpenMetrics,
  type MetricFamily,
  OPENMETRICS_CONTENT_TYPE,
  PROM_CONTENT_TYPE,
  promChunks,
} from "../report_prom.ts";
import { BodyPool } from "./bodies.ts";
import { DASHBOARD_CSS, DASHBOARD_HTML } from "./dashboard.ts";
import { DASHBOARD_JS } from "./dashboard_script.ts";
import { type HostPolicy, parseHostHeader } from "./host.ts";
import { listedSlots, snapshotJsonChunks } from "./json.ts";
import type { Frame, SegmentSource, SourceState } from "./source.ts";

/** Options of {@linkcode createHandler}. */
export interface AppOptions {
  /** Which `Host` headers are answered (see `host.ts`'s `hostPolicy`). */
  readonly hosts: HostPolicy;
  /** Shares and caps response bodies (default: a pool with default limits). */
  readonly pool?: BodyPool;
  /** Called with unexpected errors (a 500 is answered). */
  readonly onError?: (e: unknown) => void;
}

/** `memstats_segment_up`: 1 while the segment can be read, 0 while it cannot. */
export function segmentUpFamily(name: string, up: boolean): MetricFamily {
  return {
    name: "memstats_segment_up",
    type: "gauge",
    help:
      "Whether memstats serve can read the segment (0: removed, corrupt or unreadable; see /api/snapshot).",
    samples: [[{ segment: name }, up ? 1 : 0]],
  };
}

const SECURITY_HEADERS: Record<string, string> = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const TEXT = "text/plain; charset=utf-8";
const JSON_TYPE = "application/json; charset=utf-8";

function respond(
  body: BodyInit | null,
  status: number,
  type: string,
  extra: Record<string, string> = {},
): Response {
  return new Response(body, { status, headers: { "content-type": type, ...SECURITY_HEADERS, ...extra } });
}

function json(value: unknown, status = 200): Response {
  return respond(JSON.stringify(value, null, 2) + "\n", status, JSON_TYPE);
}

/** The body of `/api/snapshot` while the segment is down. */
export function downJson(s: Extract<SourceState, { up: false }>): Record<string, unknown> {
  return { name: s.name, takenAt: s.takenAt, error: { ...s.error, since: s.since } };
}

/** Roughly the bytes of a frame's exposition: decides whether the body is kept and shared. */
function promEstimate(f: Frame): number {
  if (!f.perSlot) return 16_384;
  const t = f.table;
  let labels = 0;
  for (let k = 0; k < t.count; k++) labels += t.labels[k].length;
  const perSlot = 2 * t.fields.length + 1;
  return t.count * perSlot * (110 + f.info.name.length) + 3 * labels * perSlot + 16_384;
}

/** Roughly the bytes of a frame's JSON document listing `listed` slots. */
function jsonEstimate(f: Frame, listed: number): number {
  let labels = 0;
  for (let k = 0; k < listed; k++) labels += f.table.labels[k].length;
  return listed * (260 + 70 * f.table.fields.length) + 3 * labels + 16_384;
}

/** The path and query of a request target, and the authority when the URL has one; undefined if malformed. */
function target(url: string): { path: string; query: string; authority?: string } | undefined {
  let rest = url;
  let authority: string | undefined;
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(url);
  if (m !== null) {
    authority = m[1];
    rest = url.slice(m[0].length) || "/";
  }
  if (!rest.startsWith("/")) return undefined;
  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);
  const q = rest.indexOf("?");
  return {
    path: q < 0 ? rest : rest.slice(0, q),
    query: q < 0 ? "" : rest.slice(q + 1),
    authority,
  };
}

/** A query parameter's value (undefined when absent). */
function param(query: string, name: string): string | undefined {
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=");
    if ((eq < 0 ? pair : pair.slice(0, eq)) === name) return eq < 0 ? "" : pair.slice(eq + 1);
  }
  return undefined;
}

const BUSY =
  "memstats serve is busy rendering other responses; retry in a second (Prometheus will at its next scrape)\n";

/**
 * A request handler serving `source`.
 *
 * @example
 * ```ts
 * import { createHandler } from "./app.ts";
 * import { hostPolicy } from "./host.ts";
 * import { SegmentSource } from "./source.ts";
 * const handler = createHandler(new SegmentSource("/memstats-1000"), {
 *   hosts: hostPolicy("127.0.0.1", [], []),
 * });
 * const res = await handler(new Request("http://127.0.0.1/metrics"));
 * console.log(res.status, await res.text());
 * ```
 */
export function createHandler(
  source: SegmentSource,
  options: AppOptions,
): (request: Request) => Promise<Response> {
  const pool = options.pool ?? new BodyPool({ onError: options.onError });
  const hosts = options.hosts;

  const refuse = (what: string, value: string): Response =>
    respond(
      `memstats serve answers only ${hosts.description}; refused ${what} ${
        JSON.stringify(value)
      } (see --allow-host)\n`,
      403,
      TEXT,
    );

  /** 400 or 403 for a request whose Host (or URL authority) is not answered; undefined when it is. */
  const checkHost = (req: Request, authority: string | undefined): Response | undefined => {
    const header = req.headers.get("host");
    if (header === null) return respond("a Host header is required\n", 400, TEXT);
    for (const [what, value] of [["Host", header], ["URL authority", authority]] as const) {
      if (value === undefined) continue;
      const h = parseHostHeader(value);
      if (h === undefined) return respond(`malformed ${what}: ${JSON.stringify(value)}\n`, 400, TEXT);
      if (!hosts.allows(h)) return refuse(what, value);
    }
    return undefined;
  };

  const stream = async (
    state: Extract<SourceState, { up: true }>,
    key: string,
    estimate: number,
    render: () => Iterator<string>,
    type: string,
    head: boolean,
  ): Promise<Response> => {
    if (head) return respond(null, 200, type);
    const body = await pool.open(state.frame.id, key, estimate, render);
    return body === undefined ? respond(BUSY, 503, TEXT, { "retry-after": "1" }) : respond(body, 200, type);
  };

  const route = async (req: Request): Promise<Response> => {
    const t = target(req.url);
    const refused = checkHost(req, t?.authority);
    if (refused !== undefined) return refused;
    if (t === undefined) return respond("malformed request target\n", 400, TEXT);
    const head = req.method === "HEAD";
    if (req.method !== "GET" && !head) {
      return respond("method not allowed\n", 405, TEXT, { allow: "GET, HEAD" });
    }
    switch (t.path) {
      case "/metrics": {
        const s = source.current();
        const openMetrics = acceptsOpenMetrics(req.headers.get("accept"));
        const type = openMetrics ? OPENMETRICS_CONTENT_TYPE : PROM_CONTENT_TYPE;
        const extra = [segmentUpFamily(source.name, s.up)];
        if (!s.up) {
          return respond(head ? null : [...promChunks([], { openMetrics, extra })].join(""), 200, type);
        }
        const f = s.frame;
        const seg = { name: f.info.name, capacity: f.info.capacity, table: f.table };
        return await stream(
          s,
          openMetrics ? "openmetrics" : "prom",
          promEstimate(f),
          () => promChunks([seg], { openMetrics, perSlot: f.perSlot, extra }),
          type,
          head,
        );
      }
      case "/api/snapshot": {
        const raw = param(t.query, "limit");
        const limit = raw === undefined ? Infinity : /^\d{1,9}$/.test(raw) ? Number(raw) : NaN;
        if (Number.isNaN(limit)) {
          return respond(`limit must be a whole number of slots, got ${JSON.stringify(raw)}\n`, 400, TEXT);
        }
        const s = source.current();
        if (!s.up) return json(downJson(s), 503);
        const listed = listedSlots(s.frame, limit);
        return await stream(
          s,
          `json:${listed}`,
          jsonEstimate(s.frame, listed),
          () => snapshotJsonChunks(s.frame, { limit }),
          JSON_TYPE,
          head,
        );
      }
      case "/api/history": {
        const h = source.history();
        return json({
          name: source.name,
          fields: source.fields,
          intervalMs: source.sampleIntervalMs,
          points: h,
        });
      }
      case "/":
      case "/index.html":
        return respond(DASHBOARD_HTML, 200, "text/html; charset=utf-8", { "content-security-policy": CSP });
      case "/dashboard.css":
        return respond(DASHBOARD_CSS, 200, "text/css; charset=utf-8");
      case "/dashboard.js":
        return respond(DASHBOARD_JS, 200, "text/javascript; charset=utf-8");
      default:
        return respond("not found; try /, /metrics, /api/snapshot or /api/history\n", 404, TEXT);
    }
  };

  return async (req: Request): Promise<Response> => {
    let res: Response;
    try {
      res = await route(req);
    } catch (e) {
      options.onError?.(e);
      res = respond("internal error\n", 500, TEXT);
    }
    return req.method === "HEAD" && res.body !== null
      ? new Response(null, { status: res.status, headers: res.headers })
      : res;
  };
}
