/**
 * Prometheus text exposition format 0.0.4 of one or more segments, and the
 * same metrics in OpenMetrics 1.0 text (for scrapers whose `Accept` header
 * asks for it; see {@linkcode acceptsOpenMetrics}).
 *
 * Metric names are fixed and field names travel in a `field` label, so one
 * scrape config covers every segment whatever its fields. Every family is
 * written once with its HELP and TYPE lines and all its samples together
 * (the format requires a family's lines to be contiguous), which is why this
 * renders several segments at a time.
 *
 * The exposition is produced in chunks straight from a read's columns
 * ({@linkcode promChunks}), never as one string: a table of 65,536 slots of
 * 4 fields is about 70 MB of text, and the largest valid table over 10 GB.
 * A writer of the chunks (stdout, an HTTP response) holds one chunk at a
 * time. With `perSlot: false` only the segment-level families are written
 * (totals, slot counts, counters), whatever the table's size.
 *
 * Label values are escaped as the format requires, and any control or
 * bidirectional formatting character that reaches the renderer becomes
 * U+FFFD, so a scrape shown in a terminal cannot carry escape sequences.
 *
 * @module
 */
import type { MemoryStatsRegistry } from "./registry.ts";
import type { Snapshot } from "./report.ts";
import type { TableSnapshot } from "./table.ts";

/** Content-Type of {@linkcode renderProm}'s output. */
export const PROM_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

// Control characters (but line feed, which the format escapes) and bidirectional formatting characters.
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
// deno-lint-ignore no-control-regex
const NEEDS_WORK = /[\\"\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/**
 * Escape a label value: backslash, double quote and line feed as the format
 * requires; other control and bidirectional formatting characters become U+FFFD.
 */
export function escapeLabel(v: string): string {
  if (!NEEDS_WORK.test(v)) return v;
  return v.replace(UNSAFE, "\ufffd").replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Escape HELP text: backslash and line feed. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function num(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

/** The columns of a read that the renderers use (a `registry.snapshot()` has them all). */
export type PromRows = Pick<
  TableSnapshot,
  | "fields"
  | "count"
  | "slot"
  | "pid"
  | "tid"
  | "updatedAt"
  | "values"
  | "peaks"
  | "labels"
  | "totals"
  | "deadSlots"
  | "skippedSlots"
  | "overflowCount"
  | "reclaimedCount"
>;

/** One segment to render: its name, its capacity and one read of its table. */
export interface PromSegment {
  /** Segment name. */
  readonly name: string;
  /** Number of slots. */
  readonly capacity: number;
  /** The read; with `perSlot: false` only its totals and counts are used. */
  readonly table: PromRows;
}

/**
 * Read `registry` now, for {@linkcode promChunks}. The columns belong to the
 * registry and are reused by its next read: render before reading it again.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry } from "../mod.ts";
 * import { promChunks, promSegment } from "./report_prom.ts";
 * using r = MemoryStatsRegistry.open("/memstats-example", { readOnly: true });
 * for (const chunk of promChunks([promSegment(r)])) console.log(chunk);
 * ```
 */
export function promSegment(registry: MemoryStatsRegistry): PromSegment {
  return { name: registry.name, capacity: registry.capacity, table: registry.snapshot() };
}

/** A {@linkcode Snapshot} (records) as a {@linkcode PromSegment} (columns). */
export function snapshotSegment(s: Snapshot): PromSegment {
  const n = s.slots.length;
  const col = (f: (k: number) => number) => Float64Array.from({ length: n }, (_, k) => f(k));
  return {
    name: s.name,
    capacity: s.capacity,
    table: {
      fields: s.fields,
      count: n,
      slot: col((k) => s.slots[k].slot),
      pid: col((k) => s.slots[k].pid),
      tid: col((k) => s.slots[k].tid),
      updatedAt: col((k) => s.slots[k].updatedAt),
      values: s.fields.map((f) => col((k) => s.slots[k].values[f])),
      peaks: s.fields.map((f) => col((k) => s.slots[k].peaks[f])),
      labels: s.slots.map((t) => t.label),
      totals: Float64Array.from(s.fields, (f) => s.totals[f]),
      deadSlots: s.deadSlots,
      skippedSlots: s.skippedSlots,
      overflowCount: s.overflowCount,
      reclaimedCount: s.reclaimedCount,
    },
  };
}

/**
 * A metric family with its samples, rendered after the segment families by
 * {@linkcode promChunks} (e.g. the `memstats_segment_up` gauge of
 * `memstats serve`).
 */
export interface MetricFamily {
  /** Metric name as in format 0.0.4: a counter's ends in `_total`. */
  readonly name: string;
  /** Metric type. */
  readonly type: "gauge" | "counter";
  /** One line of help. */
  readonly help: string;
  /** OpenMetrics unit (`seconds`, `bytes`); the name must end in `_<unit>`. */
  readonly unit?: string;
  /** Label sets and values. */
  readonly samples: readonly (readonly [Readonly<Record<string, string | number>>, number])[];
}

/** Options of {@linkcode promChunks}. */
export interface PromOptions {
  /** OpenMetrics 1.0 text instead of format 0.0.4 (default false). */
  readonly openMetrics?: boolean;
  /** Write the per-slot families (default true); false: totals, slot counts and counters only. */
  readonly perSlot?: boolean;
  /** Families written after the segment families. */
  readonly extra?: readonly MetricFamily[];
  /** A chunk is yielded once it holds at least this many characters (default 65,536). */
  readonly chunkSize?: number;
}

interface Head {
  readonly name: string;
  readonly type: "gauge" | "counter";
  readonly help: string;
  readonly unit?: string;
}

/** Writes one family's samples for one segment, yielding whenever the buffer is full. */
type Body = (seg: PromSegment, w: Writer) => Generator<string, void, undefined>;

/** The chunk being filled. */
class Writer {
  text = "";
  readonly size: number;
  constructor(size: number) {
    this.size = size;
  }
  /** The full chunk, emptied; or undefined while it is not full. */
  take(): string | undefined {
    if (this.text.length < this.size) return undefined;
    const t = this.text;
    this.text = "";
    return t;
  }
}

/** `segment="…",slot="…",pid="…",tid="…",label="…"` of row `k`. */
function slotLabels(segment: string, t: PromRows, k: number): string {
  return `segment="${segment}",slot="${t.slot[k]}",pid="${t.pid[k]}",tid="${t.tid[k]}",label="${
    escapeLabel(t.labels[k])
  }"`;
}

/** Per field of every row: `values` or `peaks`. */
function perField(metric: string, column: "values" | "peaks"): Body {
  return function* (seg, w) {
    const t = seg.table;
    const segment = escapeLabel(seg.name);
    const fields = t.fields.map((f) => `,field="${escapeLabel(f)}"} `);
    const cols = t[column];
    for (let k = 0; k < t.count; k++) {
      const head = `${metric}{${slotLabels(segment, t, k)}`;
      let lines = "";
      for (let j = 0; j < fields.length; j++) lines += head + fields[j] + num(cols[j][k]) + "\n";
      w.text += lines;
      const chunk = w.take();
      if (chunk !== undefined) yield chunk;
    }
  };
}

/** One sample per segment. */
function perSegment(metric: string, value: (seg: PromSegment) => number): Body {
  // deno-lint-ignore require-yield
  return function* (seg, w) {
    w.text += `${metric}{segment="${escapeLabel(seg.name)}"} ${num(value(seg))}\n`;
  };
}

const SLOT_FAMILIES: readonly (Head & { body: Body })[] = [
  {
    name: "memstats_slot_value",
    type: "gauge",
    help: "Current value of a field of a live slot (bytes for *_bytes fields).",
    body: perField("memstats_slot_value", "values"),
  },
  {
    name: "memstats_slot_peak",
    type: "gauge",
    help: "Highest value of a field of a live slot since the slot was registered.",
    body: perField("memstats_slot_peak", "peaks"),
  },
  {
    name: "memstats_slot_updated_timestamp_seconds",
    type: "gauge",
    help: "Time of the last update of a live slot, seconds since the Unix epoch.",
    unit: "seconds",
    body: function* (seg, w) {
      const t = seg.table;
      const segment = escapeLabel(seg.name);
      for (let k = 0; k < t.count; k++) {
        w.text += `memstats_slot_updated_timestamp_seconds{${slotLabels(segment, t, k)}} ${
          num(t.updatedAt[k] / 1000)
        }\n`;
        const chunk = w.take();
        if (chunk !== undefined) yield chunk;
      }
    },
  },
];

const SEGMENT_FAMILIES: readonly (Head & { body: Body })[] = [
  {
    name: "memstats_segment_value",
    type: "gauge",
    help: "Total of a field over the live slots of a segment (a per-process field counts each process once).",
    // deno-lint-ignore require-yield
    body: function* (seg, w) {
      const segment = escapeLabel(seg.name);
      const t = seg.table;
      for (let j = 0; j < t.fields.length; j++) {
        w.text += `memstats_segment_value{segment="${segment}",field="${escapeLabel(t.fields[j])}"} ${
          num(t.totals[j])
        }\n`;
      }
    },
  },
  {
    name: "memstats_active_slots",
    type: "gauge",
    help: "Number of live slots (tracked threads) in a segment.",
    body: perSegment("memstats_active_slots", (s) => s.table.count),
  },
  {
    name: "memstats_dead_slots",
    type: "gauge",
    help: "Slots whose owner died without releasing them, awaiting reclaim (in no other series).",
    body: perSegment("memstats_dead_slots", (s) => s.table.deadSlots),
  },
  {
    name: "memstats_skipped_slots",
    type: "gauge",
    help: "Slots left out of this read: a write stayed in progress, or the read ran out of time.",
    body: perSegment("memstats_skipped_slots", (s) => s.table.skippedSlots),
  },
  {
    name: "memstats_capacity_slots",
    type: "gauge",
    help: "Number of slots of a segment.",
    body: perSegment("memstats_capacity_slots", (s) => s.capacity),
  },
  {
    name: "memstats_overflow_total",
    type: "counter",
    help: "Registrations refused because the table was full.",
    body: perSegment("memstats_overflow_total", (s) => s.table.overflowCount),
  },
  {
    name: "memstats_reclaimed_total",
    type: "counter",
    help: "Slots taken back from owners that died without releasing them.",
    body: perSegment("memstats_reclaimed_total", (s) => s.table.reclaimedCount),
  },
];

function headLines(f: Head, openMetrics: boolean): string {
  if (!openMetrics) return `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`;
  const family = f.type === "counter" ? f.name.replace(/_total$/, "") : f.name;
  return `# HELP ${family} ${escapeLabel(f.help)}\n# TYPE ${family} ${f.type}\n` +
    (f.unit !== undefined ? `# UNIT ${family} ${f.unit}\n` : "");
}

function labelSet(pairs: Readonly<Record<string, string | number>>): string {
  return "{" + Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`).join(",") + "}";
}

/**
 * The exposition of `segments` as chunks of text, in order; joined, they are
 * the whole exposition. Each chunk is produced when asked for, from the
 * columns, so memory stays at one chunk however large the table.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry } from "../mod.ts";
 * import { promChunks, promSegment } from "./report_prom.ts";
 * using r = MemoryStatsRegistry.open("/memstats-example", { readOnly: true });
 * let bytes = 0;
 * for (const chunk of promChunks([promSegment(r)], { perSlot: false })) bytes += chunk.length;
 * console.log(bytes);
 * ```
 */
export function* promChunks(
  segments: readonly PromSegment[],
  options: PromOptions = {},
): Generator<string, void, undefined> {
  const om = options.openMetrics === true;
  const w = new Writer(options.chunkSize ?? 65_536);
  const families = options.perSlot === false ? SEGMENT_FAMILIES : [...SLOT_FAMILIES, ...SEGMENT_FAMILIES];
  for (const f of families) {
    w.text += headLines(f, om);
    for (const seg of segments) yield* f.body(seg, w);
    const chunk = w.take();
    if (chunk !== undefined) yield chunk;
  }
  for (const f of options.extra ?? []) {
    w.text += headLines(f, om);
    for (const [l, v] of f.samples) w.text += `${f.name}${labelSet(l)} ${num(v)}\n`;
  }
  if (om) w.text += "# EOF\n";
  if (w.text !== "") yield w.text;
}

/**
 * Render snapshots as Prometheus text format 0.0.4, as one string (for small
 * tables; {@linkcode promChunks} streams any size).
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry } from "../mod.ts";
 * import { takeSnapshot } from "./report.ts";
 * import { renderProm } from "./report_prom.ts";
 * const r = MemoryStatsRegistry.open("/memstats-example");
 * console.log(renderProm([takeSnapshot(r)]));
 * r.close();
 * ```
 */
export function renderProm(snapshots: readonly Snapshot[], extra: readonly MetricFamily[] = []): string {
  return [...promChunks(snapshots.map(snapshotSegment), { extra })].join("");
}

/** Content-Type of {@linkcode renderOpenMetrics}'s output. */
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/**
 * Render snapshots as OpenMetrics 1.0 text: the same samples as
 * {@linkcode renderProm}, with the differences the specification requires.
 * A counter's family is named without `_total` in `# HELP` and `# TYPE`
 * while its sample keeps it (`# TYPE memstats_overflow counter`,
 * `memstats_overflow_total{...} 0`), so a scraper stores the same series
 * whichever format it reads; HELP text escapes `"` too; timestamps carry a
 * `# UNIT` line; and the exposition ends with `# EOF`.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry } from "../mod.ts";
 * import { takeSnapshot } from "./report.ts";
 * import { renderOpenMetrics } from "./report_prom.ts";
 * const r = MemoryStatsRegistry.open("/memstats-example");
 * console.log(renderOpenMetrics([takeSnapshot(r)]).endsWith("# EOF\n")); // true
 * r.close();
 * ```
 */
export function renderOpenMetrics(
  snapshots: readonly Snapshot[],
  extra: readonly MetricFamily[] = [],
): string {
  return [...promChunks(snapshots.map(snapshotSegment), { extra, openMetrics: true })].join("");
}

/**
 * Whether an HTTP `Accept` header prefers OpenMetrics 1.0 text
 * (`application/openmetrics-text`, version 1.0.0, 0.0.1 or none) to the
 * 0.0.4 text format: its quality must be above zero and at least that of
 * `text/plain` (or `text/*`, `*\/*`). Prometheus's own header does; a
 * browser's or curl's does not.
 *
 * @example
 * ```ts
 * import { acceptsOpenMetrics } from "./report_prom.ts";
 * acceptsOpenMetrics("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"); // true
 * acceptsOpenMetrics("*\/*"); // false
 * ```
 */
export function acceptsOpenMetrics(accept: string | null | undefined): boolean {
  if (!accept) return false;
  let om = 0;
  let text = 0;
  for (const range of accept.split(",")) {
    const [type, ...params] = range.split(";").map((p) => p.trim());
    const param = (k: string) =>
      params.find((p) => p.toLowerCase().startsWith(`${k}=`))?.slice(k.length + 1).replace(/^"|"$/g, "");
    const qRaw = param("q");
    const q = qRaw === undefined ? 1 : Number(qRaw);
    if (!(q >= 0 && q <= 1)) continue;
    const t = type.toLowerCase();
    if (t === "application/openmetrics-text") {
      const v = param("version");
      if (v === undefined || v === "1.0.0" || v === "0.0.1") om = Math.max(om, q);
    } else if (t === "text/plain" || t === "text/*" || t === "*/*") {
      text = Math.max(text, q);
    }
  }
  return om > 0 && om >= text;
}
