/**
 * `memstats serve` against segments written by real Bun and Deno processes:
 * /metrics is `show --prom` plus `memstats_segment_up` (OpenMetrics 1.0 when
 * the Accept header asks), /api/snapshot is `show --json`, the dashboard's
 * files, a taken port as a one-line error, and the error state while the
 * segment is removed, truncated or overwritten (the server keeps running and
 * recovers). Host checks decided from the bound address (loopback, 0.0.0.0,
 * ::, 127.1, --allow-host; malformed Hosts are 400), hostile labels, a
 * SIGKILLed writer left out and counted dead, `?limit=` and --totals-only,
 * 20 concurrent scrapes of a large table sharing one streamed render, the
 * body pool's limits, and the dashboard bundle being current and
 * type-checked. The server runs in the runtime running this file, so the
 * suite covers both; Runtime.serveHttp is also tested in-process.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, truncateSync, writeSync } from "node:fs";
import { Socket } from "node:net";
import { hostname } from "node:os";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { runtime } from "../src/runtime/mod.ts";
import {
  acceptsOpenMetrics,
  escapeLabel,
  OPENMETRICS_CONTENT_TYPE,
  PROM_CONTENT_TYPE,
  promChunks,
  promSegment,
  renderOpenMetrics,
  renderProm,
} from "../src/report_prom.ts";
import { takeSnapshot } from "../src/report.ts";
import { BodyPool } from "../src/serve/bodies.ts";
import { allowHostEntry, hostPolicy, isLoopbackAddress, parseHostHeader } from "../src/serve/host.ts";
import { cleanup, HERE, OTHER, ROOT, runtimeBin, uniqueName } from "./helpers.ts";
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
    assert.match(page.body, /Totals <span class="muted">&middot; <span id="span">/);
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

/** Resident memory of a process, kB (VmRSS). */
function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

// ESC, an OSC 52 clipboard write ended by BEL, CR, U+202E (right-to-left override), a CSI clear, NEL (C1).
const HOSTILE_LABEL = "a\x1b]52;c;ZXZpbA==\x07b\rc\u202Ed\x1b[2Je\u0085f";
const HOSTILE_SHOWN = "a\ufffd]52;c;ZXZpbA==\ufffdb\ufffdc\ufffdd\ufffd[2Je\ufffdf";
const TERMINAL_UNSAFE =
  // deno-lint-ignore no-control-regex
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

describe("memstats serve: Host checks decided from the bound address", () => {
  it("parseHostHeader: names, IPv4 in every form a browser reads, IPv6; malformed values are undefined", () => {
    assert.deepEqual(parseHostHeader("LocalHost:9464"), { host: "localhost", kind: "name", loopback: true });
    assert.deepEqual(parseHostHeader("127.1"), { host: "127.0.0.1", kind: "ipv4", loopback: true });
    assert.deepEqual(parseHostHeader("0x7f.0.0.1:80"), { host: "127.0.0.1", kind: "ipv4", loopback: true });
    assert.deepEqual(parseHostHeader("2130706433"), { host: "127.0.0.1", kind: "ipv4", loopback: true });
    assert.deepEqual(parseHostHeader("10.1.2.3"), { host: "10.1.2.3", kind: "ipv4", loopback: false });
    assert.deepEqual(parseHostHeader("[::1]:9464")?.loopback, true);
    assert.deepEqual(parseHostHeader("[::ffff:127.0.0.1]")?.loopback, true);
    assert.deepEqual(parseHostHeader("[fe80::1]")?.kind, "ipv6");
    assert.deepEqual(parseHostHeader("app.localhost")?.loopback, true);
    assert.deepEqual(parseHostHeader("metrics.example.com."), {
      host: "metrics.example.com",
      kind: "name",
      loopback: false,
    });
    for (
      const bad of [
        "",
        "a b",
        "[zz",
        "[::1",
        "x:y:z",
        "%",
        "ex/ample",
        "exa@mple",
        "é.example",
        "a\tb",
        "1.2.3.4.5",
        "256.0.0.1",
        "host:99999",
        "[::1]x",
        "a..b",
        "-a.example",
        "[1:2:3:4:5:6:7:8:9]",
        "a, b",
      ]
    ) {
      assert.equal(parseHostHeader(bad), undefined, JSON.stringify(bad));
    }
  });

  it("hostPolicy: bound to loopback (127.0.0.1, 127.1, ::1, localhost), only loopback hosts and --allow-host", () => {
    for (const bound of ["127.0.0.1", "127.1", "::1", "localhost"]) {
      assert.equal(isLoopbackAddress(bound), true, bound);
      const p = hostPolicy(bound, [allowHostEntry("proxy.example")!], ["box"]);
      const ok = (h: string) => p.allows(parseHostHeader(h)!);
      assert.equal(ok("localhost:9464"), true, bound);
      assert.equal(ok("127.0.0.1:9464"), true, bound);
      assert.equal(ok("[::1]:9464"), true, bound);
      assert.equal(ok("proxy.example"), true, bound);
      assert.equal(ok("attacker.example"), false, bound);
      assert.equal(ok("box"), false, "own names only when bound to all addresses");
      assert.equal(ok("10.0.0.7"), false, bound);
    }
  });

  it("hostPolicy: bound to 0.0.0.0, :: or an address, IP literals, localhost, own names and --allow-host; never other names", () => {
    for (const bound of ["0.0.0.0", "::", "10.0.0.7"]) {
      assert.equal(isLoopbackAddress(bound), false, bound);
      const p = hostPolicy(bound, [allowHostEntry(".corp.example")!, allowHostEntry("Metrics.Example")!], [
        "Box.lan",
        "box",
      ]);
      const ok = (h: string) => p.allows(parseHostHeader(h)!);
      assert.equal(ok("10.0.0.7:9464"), true, bound);
      assert.equal(ok("[2001:db8::7]:9464"), true, bound);
      assert.equal(ok("localhost"), true, bound);
      assert.equal(ok("box:9464"), true, bound);
      assert.equal(ok("box.lan"), true, bound);
      assert.equal(ok("metrics.example"), true, bound);
      assert.equal(ok("a.corp.example"), true, bound);
      assert.equal(ok("corp.example.attacker.example"), false, bound);
      assert.equal(ok("attacker.example"), false, bound);
      assert.equal(ok("rebind.attacker.example:9464"), false, bound);
    }
    assert.equal(allowHostEntry("a b"), undefined);
    assert.equal(allowHostEntry(".10.0.0.1"), undefined);
  });

  for (const bound of ["0.0.0.0", "127.1", "::"]) {
    it(`--host ${bound}: a rebinding Host is 403, malformed Hosts are 400 (never 500, nothing logged), IP literals and --allow-host names answered`, async () => {
      const name = uniqueName("serve-host");
      make(name);
      const server = new ServeProc(HERE, [
        name,
        "--host",
        bound,
        "--port",
        "0",
        "--allow-host",
        "metrics.example",
      ]);
      try {
        let base: string;
        try {
          base = await server.url();
        } catch (e) {
          if (bound === "::" && /EADDRNOTAVAIL|not an address|Address family/i.test(server.stderr)) return; // no IPv6 here
          throw e;
        }
        const port = Number(/:(\d+)\/$/.exec(base)![1]);
        const status = async (host: string) => (await rawGet(port, "/api/snapshot", host)).status;
        assert.equal(await status("attacker.example"), 403);
        assert.equal(await status(`rebind.attacker.example:${port}`), 403);
        for (const bad of ["a b", "[zz", "x:y:z", "%", "ex/ample", "exa@mple", "1.2.3.4.5", "a\tb"]) {
          assert.equal(await status(bad), 400, JSON.stringify(bad));
        }
        assert.equal(await status(`127.0.0.1:${port}`), 200);
        assert.equal(await status(`localhost:${port}`), 200);
        assert.equal(await status(`metrics.example:${port}`), 200);
        if (bound !== "127.1") {
          assert.equal(await status(`10.9.8.7:${port}`), 200, "an IP literal cannot be rebound");
          assert.equal(await status(`${hostname()}:${port}`), 200, "this machine's name");
        }
        // The request line's absolute URL (which overrides Host) is checked too.
        const abs = await new Promise<string>((resolve, reject) => {
          const sock = new Socket();
          let data = "";
          sock.on("data", (d) => (data += d));
          sock.on("error", reject);
          sock.on("close", () => resolve(data));
          sock.connect(port, "127.0.0.1", () =>
            sock.write(
              `GET http://attacker.example/api/snapshot HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
            ));
        });
        // Deno's and Node's request URL take the request line's host (as RFC 9112 says), which is refused;
        // Bun's takes the Host header (the request line's host is dropped), so it is answered for localhost.
        assert.match(abs, HERE === "bun" ? /^HTTP\/1\.1 200 / : /^HTTP\/1\.1 403 /, abs.slice(0, 200));
        assert.ok(server.alive);
        assert.doesNotMatch(server.stderr, /unexpected|Error|at /);
      } finally {
        await server.stop("SIGKILL");
        cleanup(name);
      }
    });
  }

  it("a bad --allow-host is a usage error naming it", () => {
    const r = cli(HERE, ["serve", uniqueName("x"), "--allow-host", "ok.example,bad host"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--allow-host: "bad host" is not a host name or address/);
  });
});

function make(name: string, capacity = 4, fields = ["arena_bytes", "requests"]): void {
  MemoryStatsRegistry.open(name, { capacity, fields }).close();
}

describe("memstats serve: labels, dead owners, scale", () => {
  it("a label with ESC, OSC 52, BEL, CR, U+202E and C1 reaches /metrics, /api/snapshot and show --prom only as U+FFFD", async () => {
    const name = uniqueName("serve-label");
    const writer = new Proc(OTHER, "diag_child.ts");
    const server = new ServeProc(HERE, [name, "--port", "0"]);
    try {
      await writer.send({ op: "open", name, options: { capacity: 4, fields: ["arena_bytes"] } });
      const s = await writer.send({ op: "register", label: HOSTILE_LABEL });
      await writer.send({ op: "update", slot: s.slot, values: { arena_bytes: 7 } });
      const base = await server.url();
      const doc = await eventually(async () => {
        const r = await get(`${base}api/snapshot`);
        return r.status === 200 ? r : undefined;
      }, "the snapshot");
      assert.doesNotMatch(doc.body, TERMINAL_UNSAFE);
      assert.equal(JSON.parse(doc.body).slots[0].label, HOSTILE_SHOWN);
      for (const accept of [undefined, PROMETHEUS_ACCEPT]) {
        const m = await get(`${base}metrics`, accept ? { accept } : {});
        assert.doesNotMatch(m.body, TERMINAL_UNSAFE);
        assert.ok(m.body.includes(`label="${HOSTILE_SHOWN}"`), m.body.slice(0, 400));
      }
      const show = cli(HERE, ["show", name, "--prom"]);
      assert.doesNotMatch(show.stdout, TERMINAL_UNSAFE);
      // The renderer itself, fed a raw label (a caller that bypassed the reader):
      assert.equal(escapeLabel(HOSTILE_LABEL), HOSTILE_SHOWN);
      assert.equal(escapeLabel('q"\\\n'), 'q\\"\\\\\\n');
    } finally {
      await server.stop("SIGKILL");
      await writer.kill();
      cleanup(name);
    }
  });

  it("a writer killed with SIGKILL leaves /metrics and /api/snapshot (rows and totals), counted in memstats_dead_slots and deadSlots", async () => {
    const name = uniqueName("serve-dead");
    const survivor = new Proc(HERE, "diag_child.ts");
    const doomed = new Proc(OTHER, "diag_child.ts");
    const server = new ServeProc(HERE, [name, "--port", "0"]);
    try {
      await survivor.send({
        op: "open",
        name,
        options: { capacity: 4, fields: ["arena_bytes", "requests"] },
      });
      await doomed.send({ op: "open", name, options: { create: false } });
      const a = await survivor.send({ op: "register", label: "survivor" });
      await survivor.send({ op: "update", slot: a.slot, values: { arena_bytes: 1000, requests: 1 } });
      const b = await doomed.send({ op: "register", label: "doomed" });
      await doomed.send({ op: "update", slot: b.slot, values: { arena_bytes: 5000, requests: 9 } });
      const base = await server.url();
      await eventually(async () => {
        const r = await get(`${base}api/snapshot`);
        return r.status === 200 && JSON.parse(r.body).activeThreads === 2 ? true : undefined;
      }, "both writers listed");
      await doomed.kill("SIGKILL");
      const doc = await eventually(
        async () => {
          const d = JSON.parse((await get(`${base}api/snapshot`)).body);
          return d.deadSlots === 1 ? d : undefined;
        },
        "the killed writer counted dead",
        20_000,
        50,
      );
      assert.deepEqual(doc.slots.map((s: { label: string }) => s.label), ["survivor"]);
      assert.equal(doc.activeThreads, 1);
      assert.deepEqual(doc.totals, { arena_bytes: 1000, requests: 1 });
      const m = (await get(`${base}metrics`)).body;
      assert.doesNotMatch(m, new RegExp(`pid="${doomed.pid}"`), "no series of the dead writer");
      assert.match(m, new RegExp(`^memstats_dead_slots\\{segment="${name}"\\} 1$`, "m"));
      assert.match(m, new RegExp(`^memstats_active_slots\\{segment="${name}"\\} 1$`, "m"));
      assert.match(
        m,
        new RegExp(`^memstats_segment_value\\{segment="${name}",field="arena_bytes"\\} 1000$`, "m"),
      );
      assert.match(m, new RegExp(`^memstats_skipped_slots\\{segment="${name}"\\} 0$`, "m"));
      const history = JSON.parse((await get(`${base}api/history`)).body);
      assert.deepEqual(history.points.at(-1).totals, { arena_bytes: 1000, requests: 1 });
    } finally {
      await server.stop("SIGKILL");
      await doomed.kill();
      await survivor.kill();
      cleanup(name);
    }
  });

  it("/api/snapshot?limit=N lists the first N live slots and says how many it left out; a bad limit is 400", async () => {
    const name = uniqueName("serve-limit");
    const reg = MemoryStatsRegistry.open(name, { capacity: 8, fields: ["arena_bytes"] });
    const server = new ServeProc(HERE, [name, "--port", "0"]);
    try {
      for (let i = 0; i < 5; i++) reg.registerSlot({ label: `w${i}` })!.set(i + 1);
      const base = await server.url();
      const full = JSON.parse((await get(`${base}api/snapshot`)).body);
      assert.equal(full.slots.length, 5);
      assert.equal("omittedSlots" in full, false);
      const two = JSON.parse((await get(`${base}api/snapshot?limit=2`)).body);
      assert.deepEqual(two.slots.map((s: { label: string }) => s.label), ["w0", "w1"]);
      assert.equal(two.omittedSlots, 3);
      assert.equal(two.activeThreads, 5);
      assert.deepEqual(two.totals, full.totals);
      assert.equal(JSON.parse((await get(`${base}api/snapshot?limit=0`)).body).slots.length, 0);
      const bad = await get(`${base}api/snapshot?limit=lots`);
      assert.equal(bad.status, 400);
      assert.match(bad.body, /limit must be a whole number/);
    } finally {
      await server.stop("SIGKILL");
      reg.close();
      cleanup(name);
    }
  });

  it("--totals-only: /metrics without per-slot series, /api/snapshot without slots (omittedSlots), totals and counts kept", async () => {
    const name = uniqueName("serve-totals");
    const reg = MemoryStatsRegistry.open(name, { capacity: 8, fields: ["arena_bytes", "requests"] });
    const server = new ServeProc(HERE, [name, "--port", "0", "--totals-only"]);
    try {
      for (let i = 0; i < 3; i++) {
        reg.registerSlot({ label: `w${i}` })!.update({ arena_bytes: 10, requests: i });
      }
      const base = await server.url();
      const m = (await get(`${base}metrics`)).body;
      assert.doesNotMatch(m, /memstats_slot_/);
      assert.match(
        m,
        new RegExp(`^memstats_segment_value\\{segment="${name}",field="arena_bytes"\\} 30$`, "m"),
      );
      assert.match(m, new RegExp(`^memstats_active_slots\\{segment="${name}"\\} 3$`, "m"));
      assert.ok(m.endsWith(UP_FAMILY(name, 1)));
      const doc = JSON.parse((await get(`${base}api/snapshot`)).body);
      assert.deepEqual(doc.slots, []);
      assert.equal(doc.omittedSlots, 3);
      assert.deepEqual(doc.totals, { arena_bytes: 30, requests: 3 });
    } finally {
      await server.stop("SIGKILL");
      reg.close();
      cleanup(name);
    }
  });

  it("20 concurrent /metrics on 16,384 slots × 4 fields: all complete and identical, and the server grows by less than 3 bodies", async () => {
    const name = uniqueName("serve-scale");
    const fields = ["arena_bytes", "rss_bytes", "heap_used_bytes", "requests"];
    const reg = MemoryStatsRegistry.open(name, { capacity: 16_384, fields });
    const server = new ServeProc(HERE, [name, "--port", "0"]);
    try {
      for (let i = 0; i < 16_384; i++) {
        reg.registerSlot({ label: `worker-${i}` })!.update({
          arena_bytes: 1_000_000 + i,
          rss_bytes: 500_000_000,
          heap_used_bytes: 3 * i,
          requests: i,
        });
      }
      const base = await server.url();
      const first = await eventually(async () => {
        const r = await get(`${base}metrics`);
        return r.body.includes(`memstats_active_slots{segment="${name}"} 16384\n`) ? r.body : undefined;
      }, "every slot read");
      const before = rssKb(server.pid);
      let peak = before;
      const sampler = setInterval(() => (peak = Math.max(peak, rssKb(server.pid))), 5);
      let bodies: string[];
      try {
        bodies = await Promise.all(
          Array.from({ length: 20 }, async () => (await get(`${base}metrics`)).body),
        );
      } finally {
        clearInterval(sampler);
      }
      for (const b of bodies) {
        assert.equal(b.length, bodies[0].length);
        assert.ok(b === bodies[0], "identical bodies");
        assert.ok(b.endsWith(UP_FAMILY(name, 1)), "complete");
      }
      assert.equal(bodies[0].length, first.length, "the same table, rendered the same way");
      const lines = bodies[0].split("\n").filter((l) => l.startsWith("memstats_slot_value{"));
      assert.equal(lines.length, 16_384 * 4);
      const bodyKb = new TextEncoder().encode(bodies[0]).length / 1024;
      assert.ok(
        peak - before < 3 * bodyKb,
        `server grew by ${peak - before} kB serving 20 requests of ${bodyKb.toFixed(0)} kB`,
      );
    } finally {
      await server.stop("SIGKILL");
      reg.close();
      cleanup(name);
    }
  });
});

describe("response bodies: shared, capped, streamed", () => {
  const chunks = (n: number, counter: { renders: number }) => () => {
    counter.renders++;
    return (function* () {
      for (let i = 0; i < n; i++) yield `chunk ${i}\n`;
    })();
  };
  const text = async (s: ReadableStream<Uint8Array> | undefined) => await new Response(s).text();

  it("requests for the same body of the same frame share one render; a new frame renders again", async () => {
    const pool = new BodyPool();
    const c = { renders: 0 };
    const a = await pool.open(1, "prom", 100, chunks(3, c));
    const b = await pool.open(1, "prom", 100, chunks(3, c));
    assert.equal(c.renders, 1);
    assert.equal(await text(a), "chunk 0\nchunk 1\nchunk 2\n");
    assert.equal(await text(b), "chunk 0\nchunk 1\nchunk 2\n");
    const d = await pool.open(1, "prom", 100, chunks(3, c));
    assert.equal(c.renders, 1, "kept while the frame is current");
    await text(d);
    await text(await pool.open(2, "prom", 100, chunks(2, c)));
    assert.equal(c.renders, 2);
    pool.close();
  });

  it("a request of the next frame joins the previous frame's body while it is still being sent", async () => {
    const pool = new BodyPool();
    const c = { renders: 0 };
    const a = await pool.open(1, "prom", 100, chunks(3, c));
    const reader = a!.getReader();
    await reader.read(); // frame 1's body is being sent
    pool.advance(2);
    const b = await pool.open(2, "prom", 100, chunks(3, c));
    assert.equal(c.renders, 1, "joined, not rendered again");
    assert.equal(await text(b), "chunk 0\nchunk 1\nchunk 2\n", "from its first chunk");
    while (!(await reader.read()).done) { /* drain */ }
    assert.equal(pool.stats.alive, 0, "ended with its last reader");
    await text(await pool.open(2, "prom", 100, chunks(3, c)));
    assert.equal(c.renders, 2, "once finished it is not joined: frame 2 gets its own");
    pool.close();
  });

  it("bodies over the share limit are rendered per request; at most maxRenders alive, then 503 (undefined)", async () => {
    const pool = new BodyPool({ maxRenders: 2, shareLimitBytes: 10, queueLimit: 0 });
    const c = { renders: 0 };
    const a = await pool.open(1, "prom", 1000, chunks(3, c));
    const b = await pool.open(1, "prom", 1000, chunks(3, c));
    assert.equal(c.renders, 2, "not shared");
    assert.equal(await pool.open(1, "prom", 1000, chunks(3, c)), undefined, "capped");
    assert.equal(await text(a), "chunk 0\nchunk 1\nchunk 2\n");
    const e = await pool.open(1, "prom", 1000, chunks(1, c));
    assert.ok(e !== undefined, "a slot is free again once a body ended");
    await text(b);
    await text(e);
    assert.deepEqual(pool.stats, { alive: 0, waiting: 0, cached: 0 });
    pool.close();
  });

  it("a waiting request gets the next free render; one that waits too long is refused", async () => {
    const pool = new BodyPool({ maxRenders: 1, shareLimitBytes: 0, waitMs: 200 });
    const c = { renders: 0 };
    const a = await pool.open(1, "x", 1, chunks(2, c));
    const waiting = pool.open(1, "x", 1, chunks(2, c));
    assert.equal(pool.stats.waiting, 1);
    await text(a);
    assert.equal(await text(await waiting), "chunk 0\nchunk 1\n");
    const held = await pool.open(2, "x", 1, chunks(2, c));
    assert.equal(await pool.open(2, "x", 1, chunks(2, c)), undefined, "refused after waitMs");
    await held?.cancel();
    assert.equal(pool.stats.alive, 0, "a cancelled response frees its render");
    pool.close();
  });

  it("a reader that stops pulling is cut off after idleMs and its render freed", async () => {
    const pool = new BodyPool({ maxRenders: 1, shareLimitBytes: 0, idleMs: 50 });
    const c = { renders: 0 };
    const s = await pool.open(1, "x", 1, chunks(100, c));
    const reader = s!.getReader();
    await reader.read();
    await new Promise((r) => setTimeout(r, 200));
    await assert.rejects(reader.read());
    assert.equal(pool.stats.alive, 0);
    pool.close();
  });

  it("promChunks: the exposition in bounded chunks, joined equal to renderProm; perSlot false keeps only segment families", () => {
    const name = uniqueName("chunks");
    const reg = MemoryStatsRegistry.open(name, { capacity: 64, fields: ["arena_bytes", "requests"] });
    try {
      for (let i = 0; i < 40; i++) {
        reg.registerSlot({ label: `w${i}` })!.update({ arena_bytes: i, requests: 2 * i });
      }
      const whole = renderProm([takeSnapshot(reg)]);
      const parts = [...promChunks([promSegment(reg)], { chunkSize: 500 })];
      assert.equal(parts.join(""), whole);
      assert.ok(parts.length > 10);
      for (const p of parts) assert.ok(p.length < 500 + 400, `chunk of ${p.length}`);
      const om = [...promChunks([promSegment(reg)], { openMetrics: true, chunkSize: 500 })].join("");
      assert.equal(om, renderOpenMetrics([takeSnapshot(reg)]));
      const totals = [...promChunks([promSegment(reg)], { perSlot: false })].join("");
      assert.doesNotMatch(totals, /memstats_slot_/);
      assert.match(
        totals,
        new RegExp(`^memstats_segment_value\\{segment="${name}",field="requests"\\} 1560$`, "m"),
      );
    } finally {
      reg.close();
      cleanup(name);
    }
  });
});

describe("dashboard script", () => {
  it("src/serve/dashboard_script.ts is the bundle of web/dashboard.ts (bun scripts/embed_dashboard.ts --check)", () => {
    const r = spawnSync(runtimeBin("bun"), ["scripts/embed_dashboard.ts", "--check"], {
      cwd: ROOT,
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr + r.stdout);
  });

  it("web/dashboard.ts type-checks against the DOM types (deno check)", () => {
    const r = spawnSync(runtimeBin("deno"), ["check", "web/dashboard.ts"], { cwd: ROOT, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr + r.stdout);
  });
});
