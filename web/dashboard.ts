/// <reference lib="dom" />
/**
 * The dashboard's script, run in the browser. `scripts/embed_dashboard.ts`
 * bundles it (with `src/format.ts`) into `src/serve/dashboard_script.ts`,
 * which `memstats serve` sends as `/dashboard.js`; a test fails when that
 * file is older than this one.
 *
 * It polls `/api/snapshot?limit=…` once a second (the `show --json`
 * document, or a 503 with `{error}` while the segment is down) and
 * `/api/history` once at load for the totals of the last minutes. Every
 * text that comes from the segment (labels above all) is set with
 * `textContent`, never parsed as HTML; the server's Content-Security-Policy
 * allows only same-origin files.
 *
 * Test hooks: each slot row is `.row.slot` with `data-thread`, `data-slot`,
 * `data-pid`, `data-tid` and `data-label`; each of its field cells has
 * `data-field` and `data-value` (the exact value); the error banner is
 * `#banner` with `data-code`; the overflow warning is `#warning`; `#dead`
 * and `#skipped` carry `data-count`; each chart's `svg` carries
 * `data-from` and `data-to`, the times at its left and right edges.
 *
 * @module
 */
import { formatAge, formatValue } from "../src/format.ts";

/** The longest span the charts show. */
const WINDOW_MS = 10 * 60 * 1000;
const POLL_MS = 1000;
/** Rows listed at most: the totals and charts count every slot. */
const ROW_LIMIT = 200;
const SVGNS = "http://www.w3.org/2000/svg";
const W = 600;
const H = 100;

/** One slot of the snapshot document (see docs/CLI.md). */
interface SlotDoc {
  slot: number;
  threadId: number;
  pid: number;
  tid: number;
  label: string;
  values: Record<string, number | null>;
  peaks: Record<string, number | null>;
  registeredAt: number;
  updatedAt: number;
}

/** The snapshot document. */
interface SnapshotDoc {
  name: string;
  layoutVersion: string;
  capacity: number;
  fields: string[];
  createdAt: number;
  creatorPid: number;
  takenAt: number;
  activeThreads: number;
  deadSlots: number;
  skippedSlots: number;
  overflowCount: number;
  reclaimedCount: number;
  suggestedCapacity?: number;
  omittedSlots?: number;
  totals: Record<string, number | null>;
  slots: SlotDoc[];
}

/** The 503 document while the segment is down. */
interface DownDoc {
  name?: string;
  takenAt?: number;
  error?: { code: string; message: string; since?: number };
}

interface HistoryPoint {
  t: number;
  totals: Record<string, number | null> | null;
}

interface Chart {
  svg: SVGSVGElement;
  now: HTMLElement;
  area: SVGPathElement;
  line: SVGPathElement;
  max: HTMLElement;
  axis: HTMLElement[];
}

interface FieldCell {
  node: HTMLElement;
  v: HTMLElement;
  pk: HTMLElement;
  fill: HTMLElement;
}

interface Row {
  node: HTMLElement;
  lbl: HTMLElement;
  sub: HTMLElement;
  pid: HTMLElement;
  tid: HTMLElement;
  age: HTMLElement;
  cells: FieldCell[];
}

function $(id: string): HTMLElement {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`dashboard: #${id} missing from the page`);
  return e;
}

let history: HistoryPoint[] = [];
let fields: string[] = [];
const rows = new Map<string, Row>();
const charts = new Map<string, Chart>();
let lastOk: number | null = null;

function show(f: string, n: number | null | undefined): string {
  // JSON has no NaN: a garbage value arrives as null.
  return typeof n === "number" ? formatValue(f, n) : "\u2013";
}

function heading(f: string): string {
  return f.replace(/_bytes$/, "").replace(/_/g, " ");
}

function clock(t: number): string {
  return new Date(t).toLocaleTimeString([], { hour12: false });
}

/** A span of time for the chart axes: `"42 s"`, `"5 min"`. */
function span(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  return `${m} min`;
}

function el(tag: string, cls?: string, text?: string): HTMLElement {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl<K extends keyof SVGElementTagNameMap>(tag: K, cls?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVGNS, tag);
  if (cls) e.setAttribute("class", cls);
  return e;
}

function setText(e: Element, t: string): void {
  if (e.textContent !== t) e.textContent = t;
}

function setStatus(kind: string, text: string): void {
  $("status").className = "pill " + kind;
  setText($("status-text"), text);
}

function showBanner(code: string, text: string): void {
  const b = $("banner");
  b.hidden = false;
  b.dataset.code = code;
  setText(b, text);
  $("main").classList.add("stale");
}

function hideBanner(): void {
  const b = $("banner");
  b.hidden = true;
  delete b.dataset.code;
  $("main").classList.remove("stale");
}

// ---- layout for a field list

function cell(cls: string, name: string, text?: string): HTMLElement {
  const c = el("div", "c " + cls, text);
  if (name) c.dataset.name = name;
  return c;
}

function setFields(list: readonly string[]): void {
  fields = list.slice();
  document.documentElement.style.setProperty("--fields", String(Math.max(1, fields.length)));
  const head = $("head");
  head.replaceChildren(cell("label", "", "label"), cell("pid", "", "pid"), cell("tid", "", "tid"));
  for (const f of fields) head.append(cell("field", "", heading(f)));
  head.append(cell("age", "", "age"));
  for (const r of rows.values()) r.node.remove();
  rows.clear();
  const box = $("charts");
  box.replaceChildren();
  charts.clear();
  for (const f of fields) {
    const card = el("div", "chart");
    card.dataset.field = f;
    const top = el("div", "ch-head");
    const now = el("span", "ch-now num", "\u2013");
    top.append(el("span", "ch-name", heading(f)), now);
    const body = el("div", "ch-body");
    const s = svgEl("svg");
    s.setAttribute("viewBox", `0 0 ${W} ${H}`);
    s.setAttribute("preserveAspectRatio", "none");
    s.setAttribute("aria-hidden", "true");
    const grid = svgEl("path", "gridline");
    grid.setAttribute("d", `M0 ${H / 2}H${W}`);
    const area = svgEl("path", "area");
    const line = svgEl("path", "line");
    s.append(grid, area, line);
    const max = el("span", "ch-max num", "");
    body.append(s, max);
    const axisBox = el("div", "ch-axis");
    const axis = [el("span", "", ""), el("span", "", ""), el("span", "", "now")];
    axisBox.append(...axis);
    card.append(top, body, axisBox);
    box.append(card);
    charts.set(f, { svg: s, now, area, line, max, axis });
  }
}

// ---- slot rows

function fieldCell(f: string): FieldCell {
  const c = cell("field", heading(f));
  c.dataset.field = f;
  const nums = el("div", "nums");
  const v = el("span", "v");
  const pk = el("span", "pk");
  nums.append(v, pk);
  const bar = el("div", "bar");
  const fill = el("div", "fill");
  bar.append(fill);
  c.append(nums, bar);
  return { node: c, v, pk, fill };
}

function makeRow(): Row {
  const node = el("div", "row slot new");
  const label = cell("label", "");
  const lbl = el("span", "lbl");
  const sub = el("span", "sub");
  label.append(lbl, sub);
  const pid = cell("pid", "pid");
  const tid = cell("tid", "tid");
  const age = cell("age", "age");
  node.append(label, pid, tid);
  const cells = fields.map((f) => {
    const fc = fieldCell(f);
    node.append(fc.node);
    return fc;
  });
  node.append(age);
  setTimeout(() => node.classList.remove("new"), 1200);
  return { node, lbl, sub, pid, tid, age, cells };
}

function updateRow(r: Row, s: SlotDoc, takenAt: number): void {
  const d = r.node.dataset;
  d.thread = String(s.threadId);
  d.slot = String(s.slot);
  d.pid = String(s.pid);
  d.tid = String(s.tid);
  d.label = s.label;
  setText(r.lbl, s.label === "" ? "(no label)" : s.label);
  r.lbl.classList.toggle("none", s.label === "");
  setText(r.sub, `slot ${s.slot} \u00b7 id ${s.threadId}`);
  setText(r.pid, String(s.pid));
  setText(r.tid, String(s.tid));
  setText(r.age, formatAge(takenAt - s.updatedAt));
  fields.forEach((f, i) => {
    const c = r.cells[i];
    const v = s.values[f];
    const p = s.peaks[f];
    c.node.dataset.value = String(v);
    c.node.dataset.peak = String(p);
    setText(c.v, show(f, v));
    setText(c.pk, "/ " + show(f, p));
    const pct = typeof v === "number" && typeof p === "number" && p > 0
      ? Math.max(0, Math.min(100, (100 * v) / p))
      : 0;
    c.fill.style.width = pct.toFixed(1) + "%";
    c.node.title = `${heading(f)}: ${v} now, peak ${p} (${pct.toFixed(0)}% of peak)`;
  });
}

function renderRows(doc: SnapshotDoc): void {
  const seen = new Set<string>();
  const box = $("rows");
  for (const s of doc.slots) {
    const key = `${s.threadId}:${s.pid}`;
    seen.add(key);
    let r = rows.get(key);
    if (r === undefined) {
      r = makeRow();
      rows.set(key, r);
    }
    updateRow(r, s, doc.takenAt);
    box.append(r.node); // keeps slot order
  }
  for (const [key, r] of rows) {
    if (!seen.has(key)) {
      r.node.remove();
      rows.delete(key);
    }
  }
  const omitted = doc.omittedSlots ?? 0;
  $("empty").hidden = doc.activeThreads > 0;
  const note = $("omitted");
  note.hidden = omitted === 0;
  note.dataset.count = String(omitted);
  setText(
    note,
    doc.slots.length === 0
      ? `Per-slot rows are off (memstats serve --totals-only); the totals count all ${doc.activeThreads} live slots.`
      : `Showing the first ${doc.slots.length} of ${doc.activeThreads} live slots, in slot order; ` +
        "the totals and charts count them all.",
  );
  const total = $("total");
  total.replaceChildren(cell("label", "", `total (${doc.activeThreads})`), cell("pid", ""), cell("tid", ""));
  for (const f of fields) {
    const c = cell("field", heading(f));
    c.dataset.field = f;
    c.dataset.value = String(doc.totals[f]);
    c.append(el("div", "nums", show(f, doc.totals[f])));
    total.append(c);
  }
  total.append(cell("age", ""));
}

// ---- charts

/**
 * The charts span the history actually held, up to {@linkcode WINDOW_MS}:
 * the first seconds fill the width instead of a sliver at its right edge.
 */
function renderCharts(now: number): void {
  const oldest = now - WINDOW_MS;
  while (history.length > 0 && history[0].t < oldest - 5000) history.shift();
  const first = history.find((p) => p.t >= oldest);
  const from = first === undefined ? now - POLL_MS : Math.min(first.t, now - POLL_MS);
  const width = now - from;
  setText($("span"), width >= WINDOW_MS - 30_000 ? "last 10 minutes" : `last ${span(width)}`);
  const x = (t: number) => ((t - from) / width) * W;
  for (const f of fields) {
    const ch = charts.get(f);
    if (ch === undefined) continue;
    const pts = history.filter((p) => p.t >= from);
    let max = 0;
    for (const p of pts) {
      const v = p.totals?.[f];
      if (typeof v === "number" && v > max) max = v;
    }
    const top = max > 0 ? max * 1.15 : 1;
    const y = (v: number) => H - (v / top) * H;
    let line = "";
    let area = "";
    let seg: [number, number][] = [];
    const xy = (q: [number, number]) => q[0].toFixed(1) + " " + q[1].toFixed(1);
    const flush = () => {
      if (seg.length === 0) return;
      if (seg.length === 1) seg.push([seg[0][0] + 1, seg[0][1]]);
      line += "M" + seg.map(xy).join("L");
      area += `M${seg[0][0].toFixed(1)} ${H}L${seg.map(xy).join("L")}L${
        seg[seg.length - 1][0].toFixed(1)
      } ${H}Z`;
      seg = [];
    };
    for (const p of pts) {
      const v = p.totals?.[f];
      if (typeof v !== "number") flush();
      else seg.push([x(p.t), y(v)]);
    }
    flush();
    ch.line.setAttribute("d", line);
    ch.area.setAttribute("d", area);
    ch.svg.dataset.from = String(from);
    ch.svg.dataset.to = String(now);
    setText(ch.axis[0], `\u2212${span(width)}`);
    setText(ch.axis[1], `\u2212${span(width / 2)}`);
    setText(ch.max, max > 0 ? "max " + show(f, max) : "");
    const last = pts.length > 0 ? pts[pts.length - 1] : null;
    setText(ch.now, last?.totals ? show(f, last.totals[f]) : "\u2013");
  }
}

// ---- one snapshot

function showCount(id: string, n: number, text: string): void {
  const e = $(id);
  e.dataset.count = String(n);
  e.classList.toggle("attn", n > 0);
  setText(e, text);
}

function showSnapshot(doc: SnapshotDoc): void {
  lastOk = doc.takenAt;
  hideBanner();
  setStatus("ok", "live");
  document.title = `${doc.name} \u00b7 memstats`;
  setText($("name"), doc.name);
  if (doc.fields.join(",") !== fields.join(",")) setFields(doc.fields);
  const pct = Math.round((100 * doc.activeThreads) / doc.capacity);
  const deadPct = (100 * doc.deadSlots) / doc.capacity;
  setText($("cap-text"), `capacity: ${doc.activeThreads} of ${doc.capacity} slots used (${pct}%)`);
  const fill = $("cap-fill");
  fill.style.width = Math.min(100, pct) + "%";
  const taken = pct + deadPct;
  fill.className = "meter-fill" + (taken >= 100 ? " full" : taken >= 80 ? " high" : "");
  $("cap-dead").style.width = Math.max(0, Math.min(100 - Math.min(100, pct), deadPct)).toFixed(1) + "%";
  const dead = doc.deadSlots;
  showCount(
    "dead",
    dead,
    `${dead} dead slot${dead === 1 ? "" : "s"} awaiting reclaim`,
  );
  $("dead").title = dead > 0
    ? "Owners that ended without releasing their slots: not listed and not in the totals. " +
      `They still take room in the table until reclaimed (memstats gc ${doc.name}, or the next registration ` +
      "on a full table)."
    : "No slot of a dead owner awaits reclaim.";
  showCount("skipped", doc.skippedSlots, `${doc.skippedSlots} skipped`);
  $("skipped").title =
    "Slots left out of the last read: a write stayed in progress, or the read ran out of time.";
  setText($("counters"), `${doc.overflowCount} refused \u00b7 ${doc.reclaimedCount} reclaimed`);
  setText(
    $("meta"),
    `layout ${doc.layoutVersion} \u00b7 created by pid ${doc.creatorPid} ${
      formatAge(doc.takenAt - doc.createdAt)
    } ago`,
  );
  const warn = $("warning");
  if (doc.overflowCount > 0) {
    const n = doc.overflowCount;
    warn.hidden = false;
    setText(
      warn,
      `warning: ${n} registration${n === 1 ? " was" : "s were"} refused because the table is full ` +
        `(capacity ${doc.capacity}); those threads are not tracked. Recreate ${doc.name} with capacity ` +
        `${doc.suggestedCapacity} (open option \`capacity\`).`,
    );
  } else {
    warn.hidden = true;
  }
  history.push({ t: doc.takenAt, totals: doc.totals });
  renderRows(doc);
  renderCharts(doc.takenAt);
  setText($("updated"), "updated " + clock(doc.takenAt));
}

function staleNote(): string {
  return lastOk === null ? "" : ` The figures below are the last ones read, at ${clock(lastOk)}.`;
}

function showDown(body: DownDoc): void {
  const e = body.error ?? { code: "IO", message: "unknown error" };
  setStatus("err", "segment unavailable");
  if (body.name) setText($("name"), body.name);
  showBanner(
    e.code,
    `Segment ${body.name ?? ""} is unavailable: ${e.message} [${e.code}]. Retrying every second.` +
      staleNote(),
  );
  history.push({ t: body.takenAt ?? Date.now(), totals: null });
  renderCharts(Date.now());
  setText($("updated"), "checked " + clock(Date.now()));
}

function showUnreachable(err: unknown): void {
  setStatus("err", "server unreachable");
  const why = err instanceof Error ? err.message : String(err);
  showBanner(
    "UNREACHABLE",
    `Cannot reach memstats serve at ${location.host} (${why}). Retrying every second.` + staleNote(),
  );
}

async function poll(): Promise<void> {
  const started = Date.now();
  try {
    const res = await fetch(`/api/snapshot?limit=${ROW_LIMIT}`, { cache: "no-store" });
    if (res.status === 503 && res.headers.get("retry-after") !== null) {
      // The server is busy rendering: keep the last figures and ask again.
    } else if (res.ok) {
      showSnapshot(await res.json() as SnapshotDoc);
    } else {
      showDown(await res.json() as DownDoc);
    }
  } catch (err) {
    showUnreachable(err);
  }
  setTimeout(poll, Math.max(100, POLL_MS - (Date.now() - started)));
}

async function start(): Promise<void> {
  try {
    const res = await fetch("/api/history", { cache: "no-store" });
    if (res.ok) {
      const h = await res.json() as { fields?: string[]; points?: HistoryPoint[] };
      history = h.points ?? [];
      if (h.fields && h.fields.length > 0) setFields(h.fields);
    }
  } catch { /* the first poll reports it */ }
  await poll();
}

start();
