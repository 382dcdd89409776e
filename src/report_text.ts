/**
 * The human-readable report: a table of active slots in human units, a
 * totals row, capacity use and the overflow warning. `memstats show`,
 * `memstats watch` and the SIGQUIT report all print this.
 *
 * Labels come from any process that can write the segment, so they are
 * shown with control and bidi characters replaced: a label must never be
 * able to move the cursor, clear the reader's terminal or reorder a line.
 * Columns are padded and cut by terminal width (a CJK character takes two
 * columns), not by code points.
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

// C0 and C1 controls and the bidirectional overrides, isolates and marks (as the core's label
// decoding): printed, they could move the cursor, retitle the terminal or reorder the line.
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A label safe to print: control and bidi characters become U+FFFD, and it
 * is cut to `max` terminal columns (wide characters take two) with `…`.
 */
export function safeLabel(label: string, max = 20): string {
  return cutToWidth(label.replace(UNSAFE, "\ufffd"), max);
}

/**
 * Text from outside (another user's file names, messages quoting a hostile
 * header) made safe for a terminal: control and bidi characters are shown
 * as escapes (`\x1b`, `\u202e`), so they can neither drive the terminal nor
 * hide in the output.
 */
export function escapeForTerminal(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const n = c.charCodeAt(0);
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
  });
}

// Code points a terminal draws two columns wide (East Asian Wide and Fullwidth), besides emoji.
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f], // Hangul Jamo initials
  [0x2329, 0x232a],
  [0x2e80, 0x303e], // CJK radicals, Kangxi, ideographic description, CJK symbols and punctuation
  [0x3041, 0x33ff], // Hiragana, Katakana, Bopomofo, Hangul compatibility Jamo, Kanbun, CJK compatibility
  [0x3400, 0x4dbf], // CJK extension A
  [0x4e00, 0x9fff], // CJK unified ideographs
  [0xa000, 0xa4cf], // Yi
  [0xa960, 0xa97f], // Hangul Jamo extended A
  [0xac00, 0xd7a3], // Hangul syllables
  [0xf900, 0xfaff], // CJK compatibility ideographs
  [0xfe10, 0xfe19], // vertical forms
  [0xfe30, 0xfe6f], // CJK compatibility forms, small form variants
  [0xff00, 0xff60], // fullwidth forms
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18cff], // Tangut
  [0x1b000, 0x1b2ff], // Kana supplement and extensions, Nushu
  [0x1f300, 0x1f64f], // pictographs, emoticons
  [0x1f900, 0x1f9ff], // supplemental pictographs
  [0x20000, 0x3fffd], // CJK extensions B and later
];
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\p{Cf}\u1160-\u11ff]$/u;
const EMOJI = /^\p{Emoji_Presentation}$/u;

/** Columns a terminal gives one code point: 0 (combining, format), 1, or 2 (wide). */
export function charWidth(cp: number): number {
  if (cp < 0x300) return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ? 0 : 1;
  const ch = String.fromCodePoint(cp);
  if (ZERO_WIDTH.test(ch)) return 0;
  for (const [lo, hi] of WIDE) {
    if (cp < lo) break;
    if (cp <= hi) return 2;
  }
  return EMOJI.test(ch) ? 2 : 1;
}

/** Columns `text` takes on a terminal (no escape sequences in it). */
export function displayWidth(text: string): number {
  let w = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) {
      w++;
      continue;
    }
    const cp = text.codePointAt(i)!;
    if (cp > 0xffff) i++;
    w += charWidth(cp);
  }
  return w;
}

/** `text` cut to at most `max` columns, ending in `…` when cut; a wide character never straddles the cut. */
export function cutToWidth(text: string, max: number): string {
  if (displayWidth(text) <= max) return text;
  let w = 0;
  let out = "";
  for (const ch of text) {
    const cw = charWidth(ch.codePointAt(0)!);
    if (w + cw > max - 1) break;
    out += ch;
    w += cw;
  }
  return out + "…";
}

/** `text` padded with spaces to `width` columns, on the right (`alignRight`: on the left). */
export function padToWidth(text: string, width: number, alignRight = false): string {
  const n = displayWidth(text);
  if (n >= width) return text;
  return alignRight ? " ".repeat(width - n) + text : text + " ".repeat(width - n);
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
  return padToWidth(s, w, right);
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
  const widths = heads.map((h, i) => Math.max(h.length, ...[...rows, total].map((r) => displayWidth(r[i]))));
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
 * What a read could not show, or [] when it showed everything: the slots of
 * dead owners awaiting reclaim, and the slots this read skipped.
 */
export function readNotes(s: Snapshot): string[] {
  const notes: string[] = [];
  const slots = (n: number) => `${n} slot${n === 1 ? "" : "s"}`;
  if (s.deadSlots > 0) {
    notes.push(`${slots(s.deadSlots)} of dead owners awaiting reclaim (memstats gc)`);
  }
  if (s.skippedSlots > 0) {
    notes.push(`${slots(s.skippedSlots)} skipped (a write in progress, or out of time)`);
  }
  return notes;
}

/**
 * `capacity: 5 of 64 slots used (8%), 0 refused, 2 reclaimed`, then, when
 * there are any, the {@linkcode readNotes}.
 */
export function capacityLine(s: Snapshot, notes = true): string {
  const pct = Math.round((100 * s.activeThreads) / s.capacity);
  const line = `capacity: ${s.activeThreads} of ${s.capacity} slots used (${pct}%), ` +
    `${s.overflowCount} refused, ${s.reclaimedCount} reclaimed`;
  return notes ? [line, ...readNotes(s)].join(", ") : line;
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
