/**
 * The human-readable report: a table of active slots in human units, a
 * totals row, capacity use and the overflow warning. `memstats show`,
 * `memstats watch` and the SIGQUIT report all print this.
 *
 * Labels come from any process that can write the segment, so they are
 * shown with control characters replaced: a label must never be able to
 * move the cursor or clear the reader's terminal.
 *
 * @module
 */
import type { ThreadMemoryStats } from "./table.ts";
import { overflowWarning, type Snapshot } from "./report.ts";
import { formatAge, formatValue } from "./format.ts";

export { formatAge, formatBytes, formatCount, formatValue, isByteField } from "./format.ts";

/** Colour functions; {@linkcode PLAIN} leaves text alone. */
export interface Style {
  /** Headings. */
  bold(s: string): string;
  /** Less important text. */
  dim(s: string): string;
  /** Warnings. */
  yellow(s: string): string;
  /** Labels. */
  cyan(s: string): string;
  /** Graphs. */
  green(s: string): string;
  /** The column header bar. */
  reverse(s: string): string;
}

const id = (s: string): string => s;
/** No colours. */
export const PLAIN: Style = { bold: id, dim: id, yellow: id, cyan: id, green: id, reverse: id };
const sgr = (on: number, off: number) => (s: string): string => `\x1b[${on}m${s}\x1b[${off}m`;
/** ANSI colours. */
export const ANSI: Style = {
  bold: sgr(1, 22),
  dim: sgr(2, 22),
  yellow: sgr(33, 39),
  cyan: sgr(36, 39),
  green: sgr(32, 39),
  reverse: sgr(7, 27),
};

/** A label safe to print: control characters become `?`, cut to `max` characters. */
export function safeLabel(label: string, max = 20): string {
  // deno-lint-ignore no-control-regex
  const clean = label.replace(/[\x00-\x1f\x7f-\x9f]/g, "?");
  const chars = [...clean];
  return chars.length <= max ? clean : chars.slice(0, max - 1).join("") + "…";
}

/** Column heading of a field: upper case, without a `_bytes` suffix. */
export function fieldHeading(field: string): string {
  return field.replace(/_bytes$/, "").toUpperCase();
}

/** Sort keys besides field names. */
export const SORT_KEYS: readonly string[] = ["slot", "pid", "label", "age"];

/** Sort slots: by slot, pid, label, age (oldest update first) or a field (largest first). */
export function sortSlots(slots: readonly ThreadMemoryStats[], key = "slot"): ThreadMemoryStats[] {
  const out = [...slots];
  const by = (f: (s: ThreadMemoryStats) => number | string, desc = false) =>
    out.sort((a, b) => {
      const x = f(a), y = f(b);
      const c = x < y ? -1 : x > y ? 1 : a.slot - b.slot;
      return desc && x !== y ? -c : c;
    });
  if (key === "slot") return by((s) => s.slot);
  if (key === "pid") return by((s) => s.pid);
  if (key === "label") return by((s) => s.label);
  if (key === "age") return by((s) => s.updatedAt);
  return by((s) => s.values[key] ?? 0, true);
}

/** Options of {@linkcode renderTable}. */
export interface TableOptions {
  /** Sort key (see {@linkcode sortSlots}); default `"slot"`. */
  sort?: string;
  /** Time ages are measured against; default the snapshot's time. */
  now?: number;
  /** Colours; default none. */
  style?: Style;
  /** Show at most this many slot rows (the rest are summarised in one line). */
  maxRows?: number;
  /** Show each field's peak next to its value (default true). */
  peaks?: boolean;
}

function pad(s: string, w: number, right: boolean): string {
  const n = [...s].length;
  return n >= w ? s : right ? " ".repeat(w - n) + s : s + " ".repeat(w - n);
}

/**
 * The slot table with a header row and a totals row. Each field cell is
 * `value / peak`; the totals row sums values (a sum of peaks taken at
 * different times would mean nothing; a per-process field counts each
 * process once).
 */
export function renderTable(snap: Snapshot, options: TableOptions = {}): string[] {
  const st = options.style ?? PLAIN;
  const now = options.now ?? snap.takenAt;
  const heads = ["SLOT", "ID", "PID", "TID", "LABEL", ...snap.fields.map(fieldHeading), "AGE"];
  const right = heads.map((_, i) => i !== 4);
  const slots = sortSlots(snap.slots, options.sort);
  const shown = options.maxRows !== undefined ? slots.slice(0, Math.max(0, options.maxRows)) : slots;
  const rows = shown.map((s) => [
    String(s.slot),
    String(s.threadId),
    String(s.pid),
    String(s.tid),
    safeLabel(s.label),
    ...snap.fields.map((f) =>
      options.peaks === false
        ? formatValue(f, s.values[f])
        : `${formatValue(f, s.values[f])} / ${formatValue(f, s.peaks[f])}`
    ),
    formatAge(now - s.updatedAt),
  ]);
  const total = [
    "",
    "",
    "",
    "",
    `total (${snap.activeThreads})`,
    ...snap.fields.map((f) => formatValue(f, snap.totals[f])),
    "",
  ];
  const widths = heads.map((h, i) => Math.max(h.length, ...[...rows, total].map((r) => [...r[i]].length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i], right[i])).join("  ").trimEnd();
  const out = [st.reverse(st.bold(line(heads)))];
  for (const r of rows) {
    const cells = r.map((c, i) => pad(c, widths[i], right[i]));
    cells[4] = st.cyan(cells[4]);
    out.push(cells.join("  "));
  }
  if (shown.length < slots.length) out.push(st.dim(`… ${slots.length - shown.length} more slots`));
  out.push(st.bold(line(total)));
  return out;
}

/**
 * `capacity: 5 of 64 slots used (8%), 0 refused, 2 reclaimed`, then, when
 * there are any, the slots of dead owners awaiting reclaim and the slots
 * this read skipped.
 */
export function capacityLine(s: Snapshot): string {
  const pct = Math.round((100 * s.activeThreads) / s.capacity);
  let line = `capacity: ${s.activeThreads} of ${s.capacity} slots used (${pct}%), ` +
    `${s.overflowCount} refused, ${s.reclaimedCount} reclaimed`;
  if (s.deadSlots > 0) line += `, ${s.deadSlots} of dead owners awaiting reclaim (memstats gc)`;
  if (s.skippedSlots > 0) line += `, ${s.skippedSlots} skipped (a write in progress, or out of time)`;
  return line;
}

/** The title line: name, layout, age and, when the table shows peaks, the cell legend. */
export function titleLine(s: Snapshot, peaks = true): string {
  return `${s.name}  layout ${s.layoutVersion}  created by pid ${s.creatorPid}  ` +
    `${formatAge(s.takenAt - s.createdAt)} ago` + (peaks ? "  (values: now / peak)" : "");
}

/** The whole report as lines: title, table, capacity, warning. */
export function renderReport(snap: Snapshot, options: TableOptions = {}): string[] {
  const st = options.style ?? PLAIN;
  const out = [st.bold(titleLine(snap)), ...renderTable(snap, options), capacityLine(snap)];
  const warn = overflowWarning(snap);
  if (warn) out.push(st.yellow(warn));
  return out;
}
