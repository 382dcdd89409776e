/**
 * `memstats serve` against segments written by real Bun and Deno processes:
 * /metrics is `show --prom` plus `memstats_segment_up` (OpenMetrics 1.0 when
 * the Accept header asks), /api/snapshot is `show --json`, the dashboard's
 * files, loopback by default with non-loopback Host headers refused, a
 * taken port as a one-line error, and the error state while the segment is
 * removed, truncated or overwritten (the server keeps running and recovers).
 * The server runs in the runtime running this file, so the suite covers
 * both; Runtime.serveHttp is also tested in-process.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { closeSync, openSync, truncateSync, writeSync } from "node:fs";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { runtime } from "../src/runtime/mod.ts";
import {
  acceptsOpenMetrics,
  OPENMETRICS_CONTENT_TYPE,
  PROM_CONTENT_TYPE,
  renderOpenMetrics,
  renderProm,
} from "../src/report_prom.ts";
import { takeSnapshot } from "../src/report.ts";
import { cleanup, HERE, uniqueName } from "./helpers.ts";
import { cli, Proc, startTwoWriters } from "./fixtures/proc.ts";
import { eventually, holdPort, rawGet, ServeProc } from "./fixtures/serve_proc.ts";

const MiB = 1 << 20;
/** Prometheus 2.x's scrape Accept header. */
const PROMETHEUS_ACCEPT =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;" +
  "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const UP_FAMILY = (name: string, v: number) =>
  "# HELP memstats_segment_up Whether memstats serve can read the segment (0: removed, corrupt or unreadable; " +
  "see /api/snapshot).\n# TYPE memstats_segment_up gauge\n" + `memstats_segment_up{segment="${name}"} ${v}\n`;

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    headers: res.headers,
    body: await res.text(),
  };
}

describe("OpenMetrics rendering and content negotiation", () => {
  it("acceptsOpenMetrics: Prometheus's header yes; browsers, curl, text/plain and q=0 no", () => {
    assert.equal(acceptsOpenMetrics(PROMETHEUS_ACCEPT), true);
    assert.equal(acceptsOpenMetrics("application/openmetrics-text"), true);
    assert.equal(acceptsOpenMetrics("application/openmetrics-text; version=1.0.0; charset=utf-8"), true);
    assert.equal(
      acceptsOpenMetrics("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"),
      false,
    );
    assert.equal(acceptsOpenMetrics("application/openmetrics-text;version=2.0.0"), false);
    assert.equal(acceptsOpenMetrics("application/openmetrics-text;q=0"), false);
    assert.equal(acceptsOpenMetrics("*/*"), false);
    assert.equal(acceptsOpenMetrics("text/html,application/xhtml+xml,*/*;q=0.8"), false);
    assert.equal(acceptsOpenMetrics(null), false);
    assert.equal(acceptsOpenMetrics(""), false);
  });

  it("renderOpenMetrics: counters named without _total in HELP/TYPE, samples as in 0.0.4, UNIT, # EOF", () => {
    const name = uniqueName("om");
    const reg = MemoryStatsRegistry.open(name, { capacity: 2, fields: ["arena_bytes", "requests"] });
    try {
      const slot = reg.registerSlot({ label: 'a "b" \\ c' })!;
      slot.update({ arena_bytes: 3 * MiB, requests: 9 });
      const snap = takeSnapshot(reg);
      const om = renderOpenMetrics([snap]);
      const prom = renderProm([snap]);
      const lines = om.split("\n");
      assert.ok(om.endsWith("\n# EOF\n"), "ends with # EOF and a newline");
      assert.equal(lines.filter((l) => l === "# EOF").length, 1);
      assert.ok(lines.includes("# TYPE memstats_overflow counter"));
      assert.ok(lines.includes("# TYPE memstats_reclaimed counter"));
      assert.ok(lines.some((l) => l.startsWith("# HELP memstats_overflow Registrations refused")));
      assert.ok(lines.includes(`memstats_overflow_total{segment="${name}"} 0`));
      assert.ok(!lines.some((l) => /^# (TYPE|HELP) \w+_total /.test(l)), "no family named *_total");
      assert.ok(lines.includes("# UNIT memstats_slot_updated_timestamp_seconds seconds"));
      assert.ok(lines.includes("# TYPE memstats_slot_value gauge"));
      // The very same samples as the 0.0.4 text.
      const samples = (text: string) => text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
      assert.deepEqual(samples(om), samples(prom));
      const t = snap.slots[0];
      assert.ok(
        samples(om).includes(
          `memstats_slot_value{segment="${name}",slot="0",pid="${process.pid}",tid="${t.tid}",` +
            `label="a \\"b\\" \\\\ c",field="arena_bytes"} ${3 * MiB}`,
        ),
        om,
      );
      // And renderProm without extra families is unchanged (show --prom depends on it).
      assert.equal(renderProm([snap], []), prom);
      assert.ok(!prom.includes("# EOF") && !prom.includes("# UNIT"));
    } finally {
      reg.close();
      cleanup(name);
    }
  });
});

describe("Runtime.serveHttp", () => {
  it("serves a handler on a free port, reports a taken port as EADDRINUSE, and closes", async () => {
    const p = runtime();
    const server = await p.serveHttp(
      { hostname: "127.0.0.1", port: 0 },
      (req: Request) => new Response(`hello ${new URL(req.url).pathname}`),
    );
    let closed = false;
    try {
      assert.ok(server.port > 0);
      const r = await get(`http://127.0.0.1:${server.port}/x`);
      assert.equal(r.status, 200);
      assert.equal(r.body, "hello /x");
      await assert.rejects(
        p.serveHttp({ hostname: "127.0.0.1", port: server.port }, () => new Response("")),
        (e: Error & { code?: string }) => e.code === "EADDRINUSE" && e.message.includes(String(server.port)),
      );
      await server.close();
      closed = true;
      await assert.rejects(fetch(`http://127.0.0.1:${server.port}/x`));
    } finally {
      if (!closed) await server.close();
    }
  });
});

describe("memstats serve", () => {
  const name = uniqueName("serve");
  const fields = ["arena_bytes", "rss_bytes", "requests"];
  let bun: Proc;
  let deno: Proc;
  let server: ServeProc;
  let base: string;

  before(async () => {
    ({ bun, deno } = await startTwoWriters(name, fields));
    server = new ServeProc(HERE, [name, "--port", "0"]);
    base = await server.url();
  });

  after(async () => {
    await server?.stop("SIGKILL");
    await bun?.close();
    await deno?.close();
    cleanup(name);
  });

  it("listens on 127.0.0.1 by default and says where on one stdout line", () => {
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.match(
      server.stdout,
      new RegExp(
        `^serving ${name} on ${base} \\(metrics: ${base}metrics, JSON: ${base}api/snapshot\\); Ctrl-C to stop\\n$`,
      ),
    );
    assert.match(
      server.stderr,
      new RegExp(`reading segment ${name}: 2 of 4 slots active, fields arena_bytes`),
    );
  });

  it("/metrics: exactly the show --prom exposition, then memstats_segment_up 1", async () => {
    const r = await get(`${base}metrics`);
    assert.equal(r.status, 200);
    assert.equal(r.type, PROM_CONTENT_TYPE);
    const show = cli(HERE, ["show", name, "--prom"]);
    assert.equal(show.status, 0, show.stderr);
    assert.equal(r.body, show.stdout + UP_FAMILY(name, 1));
  });

  it("/metrics with Prometheus's Accept header: OpenMetrics 1.0, the same samples, # EOF", async () => {
    const r = await get(`${base}metrics`, { accept: PROMETHEUS_ACCEPT });
    assert.equal(r.status, 200);
    assert.equal(r.type, OPENMETRICS_CONTENT_TYPE);
    assert.ok(r.body.endsWith('memstats_segment_up{segment="' + name + '"} 1\n# EOF\n'), r.body.slice(-200));
    assert.ok(r.body.includes("# TYPE memstats_overflow counter\n"));
    assert.ok(r.body.includes(`memstats_overflow_total{segment="${name}"} 0\n`));
    const text = await get(`${base}metrics`);
    const samples = (t: string) => t.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    assert.deepEqual(samples(r.body), samples(text.body));
  });

  it("/api/snapshot: the show --json document", async () => {
    const r = await get(`${base}api/snapshot`);
    assert.equal(r.status, 200);
    assert.equal(r.type, "application/json; charset=utf-8");
    assert.equal(r.headers.get("cache-control"), "no-store");
    const show = cli(HERE, ["show", name, "--json"]);
    assert.equal(show.status, 0, show.stderr);
    const a = JSON.parse(r.body);
    const b = JSON.parse(show.stdout);
    assert.ok(Math.abs(a.takenAt - b.takenAt) < 120_000);
    delete a.takenAt;
    delete b.takenAt;
    assert.deepEqual(a, b);
    assert.deepEqual(Object.keys(JSON.parse(r.body)), Object.keys(JSON.parse(show.stdout)));
    assert.deepEqual(a.totals, { arena_bytes: 3 * MiB + 2048, rss_bytes: 60 * MiB, requests: 1507 });
  });

  it("/: the dashboard page with its own stylesheet and script (no other origin), /api/history", async () => {
    const page = await get(base);
    assert.equal(page.status, 200);
    assert.equal(page.type, "text/html; charset=utf-8");
    assert.match(page.body, /^<!doctype html>/);
    assert.match(page.body, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
    const csp = page.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(page.body, /https?:\/\//, "nothing loaded from elsewhere: works offline");
    assert.doesNotMatch(page.body, /\\u[0-9a-fA-F]{4}/, "no escape sequence shown as text");
    assert.match(page.body, /Totals <span class="muted">&middot; last 10 minutes/);
    const js = await get(`${base}dashboard.js`);
    assert.equal(js.status, 200);
    assert.equal(js.type, "text/javascript; charset=utf-8");
    assert.match(js.body, /\/api\/snapshot/);
    assert.doesNotMatch(js.body, /innerHTML/, "segment text is never parsed as HTML");
    const css = await get(`${base}dashboard.css`);
    assert.equal(css.status, 200);
    assert.equal(css.type, "text/css; charset=utf-8");
    assert.match(css.body, /@media \(max-width: 720px\)/);
    const h = JSON.parse((await get(`${base}api/history`)).body);
    assert.equal(h.name, name);
    assert.deepEqual(h.fields, fields);
    assert.ok(h.points.length >= 1);
    assert.deepEqual(h.points.at(-1).totals, {
      arena_bytes: 3 * MiB + 2048,
      rss_bytes: 60 * MiB,
      requests: 1507,
    });
    const missing = await get(`${base}nope`);
    assert.equal(missing.status, 404);
    const post = await fetch(`${base}metrics`, { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
    const head = await fetch(`${base}metrics`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
  });

  it("on loopback, a request whose Host is not a loopback name is refused (DNS rebinding)", async () => {
    const port = Number(new URL(base).port);
    assert.equal((await rawGet(port, "/api/snapshot", "attacker.example")).status, 403);
    assert.equal((await rawGet(port, "/api/snapshot", `attacker.example:${port}`)).status, 403);
    assert.equal((await rawGet(port, "/api/snapshot", `localhost:${port}`)).status, 200);
    assert.equal((await rawGet(port, "/api/snapshot", `127.0.0.1:${port}`)).status, 200);
    assert.equal((await rawGet(port, "/api/snapshot", `[::1]:${port}`)).status, 200);
  });

  it("a taken port: exit 1 with one line naming the port and --port", async () => {
    const held = await holdPort();
    try {
      const r = cli(HERE, ["serve", name, "--port", String(held.port)]);
      assert.equal(r.status, 1);
      assert.equal(
        r.stderr,
        `memstats serve: port ${held.port} is already in use on 127.0.0.1; stop the program listening there ` +
          `or choose another with --port [EADDRINUSE]\n`,
      );
      assert.equal(r.stdout, "");
    } finally {
      await held.close();
    }
  });

  it("usage errors: a port above 65535, a bad name", () => {
    const r = cli(HERE, ["serve", name, "--port", "70000"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--port must be at most 65535, got 70000/);
    const bad = cli(HERE, ["serve", "/a/b"]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /invalid segment name .* \[INVALID_NAME\]/);
    assert.match(
      cli(HERE, ["serve", "--help"]).stdout,
      /Usage: memstats serve \[name\] \[--host address\] \[--port port\]/,
    );
  });

  it("SIGTERM stops it with exit code 0", async () => {
    const other = new ServeProc(HERE, [name, "--port", "0"]);
    try {
      const url = await other.url();
      assert.equal((await get(`${url}metrics`)).status, 200);
      const r = await other.stop("SIGTERM");
      assert.equal(r.code, 0, other.stderr);
    } finally {
      await other.stop("SIGKILL");
    }
  });
});

describe("memstats serve: error state", () => {
  const up = (body: string, name: string) =>
    new RegExp(`^memstats_segment_up\\{segment="${name}"\\} (0|1)$`, "m").exec(body)?.[1];

  it("removed, recreated, truncated, overwritten: 503 and memstats_segment_up 0, never a crash; recovers", async () => {
    const name = uniqueName("serve-err");
    const path = `/dev/shm${name}`;
    // The test process never keeps a mapping of the segment it damages: a truncated mapping is SIGBUS.
    const make = () =>
      MemoryStatsRegistry.open(name, { capacity: 4, fields: ["arena_bytes", "requests"] }).close();
    let writer: Proc | undefined;
    const server = new ServeProc(HERE, [name, "--port", "0"]);
    try {
      // Missing at start: served as an error, not an exit.
      const base = await server.url();
      let r = await get(`${base}api/snapshot`);
      assert.equal(r.status, 503);
      let doc = JSON.parse(r.body);
      assert.equal(doc.name, name);
      assert.equal(doc.error.code, "NOT_FOUND");
      assert.equal(up((await get(`${base}metrics`)).body, name), "0");
      assert.match(server.stderr, new RegExp(`segment ${name} is unavailable: .*\\[NOT_FOUND\\]`));

      // Appears: picked up.
      make();
      writer = new Proc("bun", "diag_child.ts");
      await writer.send({ op: "open", name, options: { create: false } });
      const s = await writer.send({ op: "register", label: "writer" });
      await writer.send({ op: "update", slot: s.slot, values: { arena_bytes: MiB, requests: 5 } });
      doc = await eventually(async () => {
        const x = await get(`${base}api/snapshot`);
        return x.status === 200 ? JSON.parse(x.body) : undefined;
      }, "the segment to be picked up");
      assert.equal(doc.slots[0].label, "writer");
      assert.equal(up((await get(`${base}metrics`)).body, name), "1");

      // Removed while served.
      MemoryStatsRegistry.unlink(name);
      r = await get(`${base}api/snapshot`);
      assert.equal(r.status, 503);
      assert.equal(JSON.parse(r.body).error.code, "NOT_FOUND");
      const m = await get(`${base}metrics`);
      assert.equal(m.status, 200);
      assert.equal(up(m.body, name), "0");
      assert.doesNotMatch(m.body, /^memstats_slot_value/m, "no stale samples");
      await writer.kill();
      writer = undefined;

      // Truncated while served: dropped before any read (a read would be SIGBUS).
      make();
      assert.equal((await get(`${base}api/snapshot`)).status, 200);
      truncateSync(path, 64);
      r = await get(`${base}api/snapshot`);
      assert.equal(r.status, 503);
      assert.equal(JSON.parse(r.body).error.code, "TRUNCATED");
      assert.equal(up((await get(`${base}metrics`)).body, name), "0");

      // Recreated, then its magic bytes overwritten.
      MemoryStatsRegistry.unlink(name);
      make();
      assert.equal((await get(`${base}api/snapshot`)).status, 200);
      const fd = openSync(path, "r+");
      try {
        writeSync(fd, new TextEncoder().encode("GARBAGE!"), 0, 8, 0);
      } finally {
        closeSync(fd);
      }
      r = await get(`${base}api/snapshot`);
      assert.equal(r.status, 503);
      assert.equal(JSON.parse(r.body).error.code, "BAD_MAGIC");
      assert.equal(up((await get(`${base}metrics`)).body, name), "0");

      // Replaced by a good segment: back up, and the server never stopped.
      MemoryStatsRegistry.unlink(name);
      make();
      r = await get(`${base}api/snapshot`);
      assert.equal(r.status, 200);
      assert.equal(up((await get(`${base}metrics`)).body, name), "1");
      assert.ok(server.alive, "still running");
      assert.doesNotMatch(server.stderr, /unexpected/);
      for (const code of ["NOT_FOUND", "TRUNCATED", "BAD_MAGIC"]) {
        assert.match(server.stderr, new RegExp(`is unavailable: .*\\[${code}\\]`), code);
      }
    } finally {
      await writer?.kill();
      await server.stop("SIGKILL");
      cleanup(name);
    }
  });
});
