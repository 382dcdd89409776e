/**
 * The dashboard of `memstats serve`: its HTML page and stylesheet, kept
 * here as strings so that they ship inside the package (a JSR package
 * delivers modules only) and the page works offline: no CDN, no framework,
 * no charting library; the charts are plain SVG. The script is the module
 * `web/dashboard.ts`, bundled into `./dashboard_script.ts` by
 * `scripts/embed_dashboard.ts`; its module documentation lists the
 * elements it fills and the hooks tests use.
 *
 * Everything below is ASCII (entities in the HTML): Bun's transpiler
 * rewrites other characters in a template literal as `\u` escapes, which
 * `String.raw` would then keep literally.
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
      <div class="meter" aria-hidden="true"><div id="cap-fill" class="meter-fill"></div><div id="cap-dead" class="meter-dead"></div></div>
      <span id="cap-text" class="num">capacity: &hellip;</span>
    </div>
    <span id="dead" class="count num" data-count="0"></span>
    <span id="skipped" class="count num" data-count="0"></span>
    <span id="counters" class="muted num"></span>
    <span id="meta" class="muted"></span>
  </section>
  <h2>Totals <span class="muted">&middot; <span id="span">last 10 minutes</span></span></h2>
  <section id="charts" class="charts" aria-label="Totals over the last minutes"></section>
  <h2>Active slots <span class="muted">&middot; value / peak, bar: value against peak</span></h2>
  <section class="table" aria-label="Active slots">
    <div class="grid">
      <div id="head" class="row head"></div>
      <div id="rows"></div>
      <div id="total" class="row total"></div>
    </div>
    <p id="omitted" class="empty" hidden></p>
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
.meter { width: 9rem; height: .5rem; border-radius: 4px; background: var(--track); overflow: hidden; display: flex; }
.meter-fill { height: 100%; width: 0; background: var(--ok); transition: width .4s ease; }
.meter-dead { height: 100%; width: 0; background: var(--muted); opacity: .6; transition: width .4s ease; }
.count { color: var(--muted); }
.count.attn { color: var(--warn); font-weight: 600; }
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
