/**
 * The dashboard of `memstats serve`: one HTML page, its stylesheet and its
 * script, kept here as strings so that they ship inside the package (a JSR
 * package delivers modules only) and the page works offline: no CDN, no
 * framework, no charting library; the charts are plain SVG.
 *
 * The script polls `/api/snapshot` once a second (the `show --json`
 * document, or a 503 with `{error}` while the segment is down) and
 * `/api/history` once at load for the totals of the last minutes. Every
 * text that comes from the segment (labels above all) is set with
 * `textContent`, never parsed as HTML; the server's Content-Security-Policy
 * allows only these same-origin files.
 *
 * Everything below is ASCII (entities in the HTML, `\u` escapes in script
 * strings): Bun's transpiler rewrites other characters in a template
 * literal as `\u` escapes, which `String.raw` would then keep literally.
 *
 * Test hooks: each slot row is `.row.slot` with `data-thread`, `data-slot`,
 * `data-pid`, `data-tid` and `data-label`; each of its field cells has
 * `data-field` and `data-value` (the exact value); the error banner is
 * `#banner` with `data-code`; the overflow warning is `#warning`.
 *
 * @module
 */

/** The page. */
export const DASHBOARD_HTML: string = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>memstats</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<header>
  <span class="brand">memstats</span>
  <h1 id="name">&hellip;</h1>
  <span id="status" class="pill wait"><span class="dot"></span><span id="status-text">connecting</span></span>
</header>
<main id="main">
  <div id="banner" class="banner err" role="alert" hidden></div>
  <div id="warning" class="banner warn" role="status" hidden></div>
  <section class="summary">
    <div class="capacity">
      <div class="meter" aria-hidden="true"><div id="cap-fill" class="meter-fill"></div></div>
      <span id="cap-text" class="num">capacity: &hellip;</span>
    </div>
    <span id="counters" class="muted num"></span>
    <span id="meta" class="muted"></span>
  </section>
  <h2>Totals <span class="muted">&middot; last 10 minutes</span></h2>
  <section id="charts" class="charts" aria-label="Totals over the last 10 minutes"></section>
  <h2>Active slots <span class="muted">&middot; value / peak, bar: value against peak</span></h2>
  <section class="table" aria-label="Active slots">
    <div class="grid">
      <div id="head" class="row head"></div>
      <div id="rows"></div>
      <div id="total" class="row total"></div>
    </div>
    <p id="empty" class="empty" hidden>No active slots: no process is writing to this segment right now.</p>
  </section>
</main>
<footer>
  <span id="updated" class="num"></span>
  <span>refreshed every second &middot; <a href="/metrics">/metrics</a> &middot; <a href="/api/snapshot">/api/snapshot</a></span>
</footer>
</body>
</html>
`;

/** The stylesheet. */
export const DASHBOARD_CSS: string = String.raw`:root {
  --bg: #f5f6f8; --card: #fff; --fg: #1c2127; --muted: #5f6b76; --line: #e2e6ea;
  --accent: #2e6be6; --accent-soft: rgba(46, 107, 230, .14); --track: #e4e9f0;
  --ok: #1e9e57; --err: #c93636; --err-bg: #fdeeee; --warn: #8a5a00; --warn-bg: #fff5dc;
  --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #101317; --card: #181d23; --fg: #e3e7eb; --muted: #95a1ad; --line: #2a323a;
    --accent: #6c9cff; --accent-soft: rgba(108, 156, 255, .18); --track: #2a333d;
    --ok: #3fcf7f; --err: #ff7a7a; --err-bg: #3a1d1f; --warn: #ffcf6b; --warn-bg: #3a2f14;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
}
a { color: var(--accent); }
.num { font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
header {
  display: flex; align-items: center; gap: .5rem 1rem; flex-wrap: wrap;
  padding: .8rem 1.25rem; background: var(--card); border-bottom: 1px solid var(--line);
}
.brand { font-weight: 700; letter-spacing: .02em; color: var(--accent); }
h1 { margin: 0; font: 600 1.05rem/1.3 var(--mono); overflow-wrap: anywhere; }
.pill {
  margin-left: auto; display: inline-flex; align-items: center; gap: .4rem; white-space: nowrap;
  padding: .15rem .65rem; border-radius: 999px; font-size: .8rem; border: 1px solid var(--line);
}
.dot { width: .55rem; height: .55rem; border-radius: 50%; background: var(--muted); }
.pill.ok .dot { background: var(--ok); }
.pill.err { color: var(--err); border-color: var(--err); }
.pill.err .dot { background: var(--err); }
main { max-width: 1240px; margin: 0 auto; padding: 1rem 1.25rem 1.5rem; }
.banner { border-radius: 8px; padding: .65rem .9rem; margin: 0 0 1rem; border: 1px solid; overflow-wrap: anywhere; }
.banner.err { background: var(--err-bg); color: var(--err); border-color: var(--err); }
.banner.warn { background: var(--warn-bg); color: var(--warn); border-color: var(--warn); }
h2 { font-size: .8rem; font-weight: 600; text-transform: uppercase; letter-spacing: .05em; margin: 0 0 .5rem; }
h2 .muted { font-weight: 400; text-transform: none; letter-spacing: 0; }
.summary { display: flex; flex-wrap: wrap; align-items: center; gap: .4rem 1.75rem; margin: 0 0 1rem; }
.capacity { display: flex; align-items: center; gap: .6rem; }
.meter { width: 9rem; height: .5rem; border-radius: 4px; background: var(--track); overflow: hidden; }
.meter-fill { height: 100%; width: 0; background: var(--ok); transition: width .4s ease; }
.meter-fill.high { background: var(--warn); }
.meter-fill.full { background: var(--err); }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: .75rem; margin: 0 0 1rem; }
.chart { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: .55rem .75rem .45rem; min-width: 0; }
.ch-head { display: flex; justify-content: space-between; align-items: baseline; gap: .5rem; }
.ch-name { color: var(--muted); font-size: .75rem; text-transform: uppercase; letter-spacing: .05em; }
.ch-now { font-size: 1.25rem; font-weight: 600; }
.ch-body { position: relative; height: 84px; margin-top: .25rem; border-bottom: 1px solid var(--line); }
.ch-body svg { display: block; width: 100%; height: 100%; }
.ch-max { position: absolute; top: 0; left: 0; font-size: .7rem; color: var(--muted); background: var(--card); padding-right: .25rem; }
.gridline { stroke: var(--line); stroke-width: 1; vector-effect: non-scaling-stroke; }
.area { fill: var(--accent-soft); }
.line { fill: none; stroke: var(--accent); stroke-width: 1.75; vector-effect: non-scaling-stroke; stroke-linejoin: round; }
.ch-axis { display: flex; justify-content: space-between; font-size: .7rem; color: var(--muted); margin-top: .15rem; }
.table { background: var(--card); border: 1px solid var(--line); border-radius: 10px; overflow-x: auto; }
.grid { min-width: 100%; width: max-content; }
.row {
  display: grid; align-items: center; gap: .4rem .8rem; padding: .5rem .9rem; border-top: 1px solid var(--line);
  grid-template-columns: minmax(7rem, 11rem) 3.6rem 3.6rem repeat(var(--fields, 1), minmax(7rem, 1fr)) 3.2rem;
}
.row.head { border-top: 0; color: var(--muted); font-size: .72rem; text-transform: uppercase; letter-spacing: .05em; padding-top: .6rem; padding-bottom: .35rem; }
.row.total { font-weight: 600; background: var(--bg); }
.row.slot { transition: background .6s; }
.row.slot.new { background: var(--accent-soft); }
.c { min-width: 0; }
.c.label { overflow-wrap: anywhere; }
.lbl { font-weight: 600; }
.lbl.none { font-weight: 400; color: var(--muted); font-style: italic; }
.sub { display: block; color: var(--muted); font-size: .72rem; }
.c.pid, .c.tid, .c.age, .nums { font-variant-numeric: tabular-nums; }
.c.age { color: var(--muted); text-align: right; }
.row.head .c.age { text-align: right; }
.nums { display: flex; gap: .3rem; align-items: baseline; white-space: nowrap; }
.pk { color: var(--muted); font-size: .78rem; }
.bar { position: relative; height: 6px; margin-top: .3rem; border-radius: 3px; background: var(--track); overflow: hidden; }
.fill { height: 100%; width: 0; border-radius: 3px; background: var(--accent); transition: width .45s ease; }
.empty { margin: 0; padding: 1rem .9rem; color: var(--muted); }
.stale .charts, .stale .table, .stale .summary { opacity: .5; }
footer {
  max-width: 1240px; margin: 0 auto; padding: 0 1.25rem 1.5rem; color: var(--muted); font-size: .8rem;
  display: flex; flex-wrap: wrap; justify-content: space-between; gap: .25rem 1rem;
}
@media (max-width: 720px) {
  header { padding: .7rem .9rem; }
  main { padding: .8rem .75rem 1.25rem; }
  .pill { margin-left: 0; }
  .table { overflow-x: visible; }
  .grid { width: auto; }
  .row { display: flex; flex-wrap: wrap; align-items: baseline; gap: .15rem .9rem; padding: .7rem .9rem; }
  .row.head { display: none; }
  .charts { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: .5rem; }
  .chart { padding: .45rem .55rem .35rem; }
  .ch-now { font-size: 1.05rem; }
  .ch-name { font-size: .68rem; }
  .ch-body { height: 56px; }
  .ch-axis span:nth-child(2) { display: none; }
  .c.label { flex: 1 1 100%; font-size: 1rem; }
  .sub { display: inline; margin-left: .5rem; }
  .c.pid, .c.tid, .c.age { color: var(--muted); font-size: .82rem; text-align: left; }
  .c.pid::before, .c.tid::before, .c.age::before { content: attr(data-name) " "; }
  .c.field {
    order: 2; flex: 1 1 100%; display: grid; grid-template-columns: 6.5rem 1fr; column-gap: .6rem; align-items: center;
  }
  .c.field::before { content: attr(data-name); grid-row: span 2; color: var(--muted); font-size: .78rem; overflow-wrap: anywhere; }
  .row.total .c.pid, .row.total .c.tid, .row.total .c.age { display: none; }
  footer { padding: 0 .9rem 1.25rem; }
}
`;

/** The script. */
export const DASHBOARD_JS: string = String.raw`"use strict";
(function () {
  var WINDOW_MS = 10 * 60 * 1000;
  var POLL_MS = 1000;
  var SVGNS = "http://www.w3.org/2000/svg";
  var W = 600, H = 100;
  var $ = function (id) { return document.getElementById(id); };
  var history = [];
  var fields = [];
  var rows = new Map();
  var charts = new Map();
  var lastOk = null;

  // The same units as the memstats CLI (src/report_text.ts).
  function isByteField(f) { return /bytes|rss|heap|external|arena|memory/i.test(f); }
  function three(v) { return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2); }
  function scaled(n, base, units) {
    var v = n / base, u = 0;
    while (v >= base && u < units.length - 1) { v /= base; u++; }
    return three(v) + units[u];
  }
  function formatBytes(n) {
    if (!isFinite(n)) return String(n);
    return n < 1024 ? n + "B" : scaled(n, 1024, ["K", "M", "G", "T", "P"]);
  }
  function formatCount(n) {
    if (!isFinite(n) || n < 1000) return String(n);
    return scaled(n, 1000, ["k", "M", "G", "T", "P"]);
  }
  function formatValue(f, n) {
    if (typeof n !== "number") return "\u2013"; // JSON has no NaN: a garbage value arrives as null
    return isByteField(f) ? formatBytes(n) : formatCount(n);
  }
  function formatAge(ms) {
    var s = Math.max(0, ms) / 1000;
    if (s < 10) return s.toFixed(1) + "s";
    if (s < 60) return Math.floor(s) + "s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + "m" + String(Math.floor(s % 60)).padStart(2, "0") + "s";
    var h = Math.floor(m / 60);
    if (h < 24) return h + "h" + String(m % 60).padStart(2, "0") + "m";
    return Math.floor(h / 24) + "d" + String(h % 24).padStart(2, "0") + "h";
  }
  function heading(f) { return f.replace(/_bytes$/, "").replace(/_/g, " "); }
  function clock(t) { return new Date(t).toLocaleTimeString([], { hour12: false }); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svg(tag, cls) {
    var e = document.createElementNS(SVGNS, tag);
    if (cls) e.setAttribute("class", cls);
    return e;
  }
  function setText(e, t) { if (e.textContent !== t) e.textContent = t; }

  function setStatus(kind, text) {
    $("status").className = "pill " + kind;
    setText($("status-text"), text);
  }

  function showBanner(code, text) {
    var b = $("banner");
    b.hidden = false;
    b.dataset.code = code;
    setText(b, text);
    $("main").classList.add("stale");
  }
  function hideBanner() {
    var b = $("banner");
    b.hidden = true;
    delete b.dataset.code;
    $("main").classList.remove("stale");
  }

  // ---- layout for a field list
  function cell(cls, name, text) {
    var c = el("div", "c " + cls, text);
    if (name) c.dataset.name = name;
    return c;
  }
  function setFields(list) {
    fields = list.slice();
    document.documentElement.style.setProperty("--fields", String(Math.max(1, fields.length)));
    var head = $("head");
    head.replaceChildren(cell("label", "", "label"), cell("pid", "", "pid"), cell("tid", "", "tid"));
    fields.forEach(function (f) { head.append(cell("field", "", heading(f))); });
    head.append(cell("age", "", "age"));
    rows.forEach(function (r) { r.node.remove(); });
    rows.clear();
    var box = $("charts");
    box.replaceChildren();
    charts.clear();
    fields.forEach(function (f) {
      var card = el("div", "chart");
      card.dataset.field = f;
      var top = el("div", "ch-head");
      var now = el("span", "ch-now num", "\u2013");
      top.append(el("span", "ch-name", heading(f)), now);
      var body = el("div", "ch-body");
      var s = svg("svg");
      s.setAttribute("viewBox", "0 0 " + W + " " + H);
      s.setAttribute("preserveAspectRatio", "none");
      s.setAttribute("aria-hidden", "true");
      var grid = svg("path", "gridline");
      grid.setAttribute("d", "M0 " + H / 2 + "H" + W);
      var area = svg("path", "area");
      var line = svg("path", "line");
      s.append(grid, area, line);
      var max = el("span", "ch-max num", "");
      body.append(s, max);
      var axis = el("div", "ch-axis");
      axis.append(el("span", "", "\u221210 min"), el("span", "", "\u22125 min"), el("span", "", "now"));
      card.append(top, body, axis);
      box.append(card);
      charts.set(f, { now: now, area: area, line: line, max: max });
    });
  }

  // ---- slot rows
  function fieldCell(f) {
    var c = cell("field", heading(f));
    c.dataset.field = f;
    var nums = el("div", "nums");
    var v = el("span", "v");
    var pk = el("span", "pk");
    nums.append(v, pk);
    var bar = el("div", "bar");
    var fill = el("div", "fill");
    bar.append(fill);
    c.append(nums, bar);
    return { node: c, v: v, pk: pk, fill: fill };
  }
  function makeRow(s) {
    var node = el("div", "row slot new");
    var label = cell("label", "");
    var lbl = el("span", "lbl");
    var sub = el("span", "sub");
    label.append(lbl, sub);
    var pid = cell("pid", "pid"), tid = cell("tid", "tid"), age = cell("age", "age");
    node.append(label, pid, tid);
    var cells = fields.map(function (f) { var fc = fieldCell(f); node.append(fc.node); return fc; });
    node.append(age);
    setTimeout(function () { node.classList.remove("new"); }, 1200);
    return { node: node, lbl: lbl, sub: sub, pid: pid, tid: tid, age: age, cells: cells };
  }
  function updateRow(r, s, takenAt) {
    var d = r.node.dataset;
    d.thread = String(s.threadId);
    d.slot = String(s.slot);
    d.pid = String(s.pid);
    d.tid = String(s.tid);
    d.label = s.label;
    setText(r.lbl, s.label === "" ? "(no label)" : s.label);
    r.lbl.classList.toggle("none", s.label === "");
    setText(r.sub, "slot " + s.slot + " \u00b7 id " + s.threadId);
    setText(r.pid, String(s.pid));
    setText(r.tid, String(s.tid));
    setText(r.age, formatAge(takenAt - s.updatedAt));
    fields.forEach(function (f, i) {
      var c = r.cells[i], v = s.values[f], p = s.peaks[f];
      c.node.dataset.value = String(v);
      c.node.dataset.peak = String(p);
      setText(c.v, formatValue(f, v));
      setText(c.pk, "/ " + formatValue(f, p));
      var pct = p > 0 ? Math.max(0, Math.min(100, (100 * v) / p)) : 0;
      c.fill.style.width = pct.toFixed(1) + "%";
      c.node.title = heading(f) + ": " + v + " now, peak " + p + " (" + pct.toFixed(0) + "% of peak)";
    });
  }
  function renderRows(doc) {
    var seen = new Set();
    var box = $("rows");
    doc.slots.forEach(function (s) {
      var key = s.threadId + ":" + s.pid;
      seen.add(key);
      var r = rows.get(key);
      if (!r) { r = makeRow(s); rows.set(key, r); }
      updateRow(r, s, doc.takenAt);
      box.append(r.node); // keeps slot order
    });
    rows.forEach(function (r, key) {
      if (!seen.has(key)) { r.node.remove(); rows.delete(key); }
    });
    $("empty").hidden = doc.slots.length > 0;
    var total = $("total");
    total.replaceChildren(cell("label", "", "total (" + doc.activeThreads + ")"), cell("pid", ""), cell("tid", ""));
    fields.forEach(function (f) {
      var c = cell("field", heading(f));
      c.dataset.field = f;
      c.dataset.value = String(doc.totals[f]);
      c.append(el("div", "nums", formatValue(f, doc.totals[f])));
      total.append(c);
    });
    total.append(cell("age", ""));
  }

  // ---- charts
  function renderCharts(now) {
    var from = now - WINDOW_MS;
    while (history.length > 0 && history[0].t < from - 5000) history.shift();
    fields.forEach(function (f) {
      var ch = charts.get(f);
      var pts = history.filter(function (p) { return p.t >= from; });
      var max = 0;
      pts.forEach(function (p) { if (p.totals && p.totals[f] > max) max = p.totals[f]; });
      var top = max > 0 ? max * 1.15 : 1;
      var x = function (t) { return ((t - from) / WINDOW_MS) * W; };
      var y = function (v) { return H - (v / top) * H; };
      var line = "", area = "", seg = [];
      var flush = function () {
        if (seg.length === 0) return;
        if (seg.length === 1) seg.push([seg[0][0] + 1, seg[0][1]]);
        line += "M" + seg.map(function (q) { return q[0].toFixed(1) + " " + q[1].toFixed(1); }).join("L");
        area += "M" + seg[0][0].toFixed(1) + " " + H + "L" +
          seg.map(function (q) { return q[0].toFixed(1) + " " + q[1].toFixed(1); }).join("L") +
          "L" + seg[seg.length - 1][0].toFixed(1) + " " + H + "Z";
        seg = [];
      };
      pts.forEach(function (p) {
        if (!p.totals || typeof p.totals[f] !== "number") { flush(); return; }
        seg.push([x(p.t), y(p.totals[f])]);
      });
      flush();
      ch.line.setAttribute("d", line);
      ch.area.setAttribute("d", area);
      setText(ch.max, max > 0 ? "max " + formatValue(f, max) : "");
      var last = pts.length > 0 ? pts[pts.length - 1] : null;
      setText(ch.now, last && last.totals ? formatValue(f, last.totals[f]) : "\u2013");
    });
  }

  // ---- one snapshot
  function showSnapshot(doc) {
    lastOk = doc.takenAt;
    hideBanner();
    setStatus("ok", "live");
    document.title = doc.name + " \u00b7 memstats";
    setText($("name"), doc.name);
    if (doc.fields.join(",") !== fields.join(",")) setFields(doc.fields);
    var pct = Math.round((100 * doc.activeThreads) / doc.capacity);
    setText($("cap-text"), "capacity: " + doc.activeThreads + " of " + doc.capacity + " slots used (" + pct + "%)");
    var fill = $("cap-fill");
    fill.style.width = Math.min(100, pct) + "%";
    fill.className = "meter-fill" + (pct >= 100 ? " full" : pct >= 80 ? " high" : "");
    setText($("counters"), doc.overflowCount + " refused \u00b7 " + doc.reclaimedCount + " reclaimed");
    setText($("meta"), "layout " + doc.layoutVersion + " \u00b7 created by pid " + doc.creatorPid + " " +
      formatAge(doc.takenAt - doc.createdAt) + " ago");
    var warn = $("warning");
    if (doc.overflowCount > 0) {
      var n = doc.overflowCount;
      warn.hidden = false;
      setText(warn, "warning: " + n + " registration" + (n === 1 ? " was" : "s were") +
        " refused because the table is full (capacity " + doc.capacity + "); those threads are not tracked. " +
        "Recreate " + doc.name + " with capacity " + doc.suggestedCapacity + " (open option \u0060capacity\u0060).");
    } else {
      warn.hidden = true;
    }
    history.push({ t: doc.takenAt, totals: doc.totals });
    renderRows(doc);
    renderCharts(doc.takenAt);
    setText($("updated"), "updated " + clock(doc.takenAt));
  }

  function staleNote() {
    return lastOk === null ? "" : " The figures below are the last ones read, at " + clock(lastOk) + ".";
  }

  function showDown(body) {
    var e = body.error || { code: "IO", message: "unknown error" };
    setStatus("err", "segment unavailable");
    if (body.name) setText($("name"), body.name);
    showBanner(e.code, "Segment " + (body.name || "") + " is unavailable: " + e.message + " [" + e.code + "]. " +
      "Retrying every second." + staleNote());
    history.push({ t: body.takenAt || Date.now(), totals: null });
    renderCharts(Date.now());
    setText($("updated"), "checked " + clock(Date.now()));
  }

  function showUnreachable(err) {
    setStatus("err", "server unreachable");
    showBanner("UNREACHABLE", "Cannot reach memstats serve at " + location.host + " (" +
      (err && err.message ? err.message : String(err)) + "). Retrying every second." + staleNote());
  }

  async function poll() {
    var started = Date.now();
    try {
      var res = await fetch("/api/snapshot", { cache: "no-store" });
      var body = await res.json();
      if (res.ok) showSnapshot(body);
      else showDown(body);
    } catch (err) {
      showUnreachable(err);
    }
    setTimeout(poll, Math.max(100, POLL_MS - (Date.now() - started)));
  }

  async function start() {
    try {
      var res = await fetch("/api/history", { cache: "no-store" });
      if (res.ok) {
        var h = await res.json();
        history = h.points || [];
        if (h.fields && h.fields.length) setFields(h.fields);
      }
    } catch (err) { /* the first poll reports it */ }
    poll();
  }

  start();
})();
`;
