/**
 * The HTTP side of `memstats serve`: a request handler over a
 * {@linkcode SegmentSource}, independent of the runtime's server.
 *
 * | Path             | Answer                                                                   |
 * | ---------------- | ------------------------------------------------------------------------ |
 * | `/metrics`       | `show --prom` plus `memstats_segment_up`; OpenMetrics 1.0 when `Accept` asks |
 * | `/api/snapshot`  | the `show --json` document; 503 with `{error}` while the segment is down |
 * | `/api/history`   | totals of the last minutes, one point a second                           |
 * | `/`              | the dashboard (HTML, CSS and script served from here: works offline)     |
 *
 * Bound to a loopback address, it answers only requests whose `Host` is a
 * loopback name or address, so a web page in the user's browser cannot reach
 * it through DNS rebinding.
 *
 * @module
 */
import { snapshotJson } from "../report.ts";
import {
  acceptsOpenMetrics,
  type MetricFamily,
  OPENMETRICS_CONTENT_TYPE,
  PROM_CONTENT_TYPE,
  renderOpenMetrics,
  renderProm,
} from "../report_prom.ts";
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_JS } from "./dashboard.ts";
import type { SegmentSource, SourceState } from "./source.ts";

/** Options of {@linkcode createHandler}. */
export interface AppOptions {
  /** Answer only requests whose `Host` header names a loopback host (set when bound to loopback). */
  readonly loopbackOnly: boolean;
  /** Called with unexpected errors (a 500 is answered). */
  readonly onError?: (e: unknown) => void;
}

/** Whether `host` (an address or name, without port) is loopback. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h.endsWith(".localhost") || h === "localhost.localdomain" ||
    h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === "::ffff:127.0.0.1";
}

/** The host part of a `Host` header value (`[::1]:9464` → `[::1]`). */
function hostOf(header: string): string {
  const m = /^(\[[^\]]*\]|[^:]*)(:\d+)?$/.exec(header.trim());
  return m ? m[1] : header;
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

function respond(body: string, status: number, type: string, extra: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { "content-type": type, ...SECURITY_HEADERS, ...extra } });
}

function json(value: unknown, status = 200): Response {
  return respond(JSON.stringify(value, null, 2) + "\n", status, "application/json; charset=utf-8");
}

/** The body of `/api/snapshot` while the segment is down. */
export function downJson(s: Extract<SourceState, { up: false }>): Record<string, unknown> {
  return { name: s.name, takenAt: s.takenAt, error: { ...s.error, since: s.since } };
}

/**
 * A request handler serving `source`.
 *
 * @example
 * ```ts
 * import { createHandler } from "./app.ts";
 * import { SegmentSource } from "./source.ts";
 * const handler = createHandler(new SegmentSource("/memstats-1000"), { loopbackOnly: true });
 * const res = await handler(new Request("http://127.0.0.1/metrics"));
 * console.log(res.status, await res.text());
 * ```
 */
export function createHandler(
  source: SegmentSource,
  options: AppOptions,
): (request: Request) => Promise<Response> {
  const route = (req: Request): Response => {
    const url = new URL(req.url);
    if (options.loopbackOnly) {
      const host = req.headers.get("host");
      if (host !== null && !isLoopbackHost(hostOf(host))) {
        return respond(
          `memstats serve listens on loopback only and refuses Host ${JSON.stringify(host)}\n`,
          403,
          "text/plain; charset=utf-8",
        );
      }
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      return respond("method not allowed\n", 405, "text/plain; charset=utf-8", { allow: "GET, HEAD" });
    }
    switch (url.pathname) {
      case "/metrics": {
        const s = source.read();
        const snaps = s.up ? [s.snapshot] : [];
        const up = [segmentUpFamily(source.name, s.up)];
        return acceptsOpenMetrics(req.headers.get("accept"))
          ? respond(renderOpenMetrics(snaps, up), 200, OPENMETRICS_CONTENT_TYPE)
          : respond(renderProm(snaps, up), 200, PROM_CONTENT_TYPE);
      }
      case "/api/snapshot": {
        const s = source.read();
        return s.up ? json(snapshotJson(s.snapshot)) : json(downJson(s), 503);
      }
      case "/api/history": {
        const h = source.history();
        return json({ name: source.name, fields: source.fields, intervalMs: 1000, points: h });
      }
      case "/":
      case "/index.html":
        return respond(DASHBOARD_HTML, 200, "text/html; charset=utf-8", { "content-security-policy": CSP });
      case "/dashboard.css":
        return respond(DASHBOARD_CSS, 200, "text/css; charset=utf-8");
      case "/dashboard.js":
        return respond(DASHBOARD_JS, 200, "text/javascript; charset=utf-8");
      default:
        return respond(
          "not found; try /, /metrics, /api/snapshot or /api/history\n",
          404,
          "text/plain; charset=utf-8",
        );
    }
  };
  // deno-lint-ignore require-await
  return async (req: Request): Promise<Response> => {
    let res: Response;
    try {
      res = route(req);
    } catch (e) {
      options.onError?.(e);
      res = respond("internal error\n", 500, "text/plain; charset=utf-8");
    }
    return req.method === "HEAD" ? new Response(null, { status: res.status, headers: res.headers }) : res;
  };
}
