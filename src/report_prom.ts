/**
 * Prometheus text exposition format 0.0.4 of one or more snapshots, and the
 * same metrics in OpenMetrics 1.0 text (for scrapers whose `Accept` header
 * asks for it; see {@linkcode acceptsOpenMetrics}).
 *
 * Metric names are fixed and field names travel in a `field` label, so one
 * scrape config covers every segment whatever its fields. Every family is
 * written once with its HELP and TYPE lines and all its samples together
 * (the format requires a family's lines to be contiguous), which is why this
 * renders several segments at a time.
 *
 * @module
 */
import type { Snapshot } from "./report.ts";

/** Content-Type of {@linkcode renderProm}'s output. */
export const PROM_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Escape a label value: backslash, double quote and line feed. */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Escape HELP text: backslash and line feed. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function labels(pairs: Record<string, string | number>): string {
  return "{" + Object.entries(pairs).map(([k, v]) => `${k}="${escapeLabel(String(v))}"`).join(",") + "}";
}

function num(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

type Sample = [Record<string, string | number>, number];

interface Family {
  name: string;
  type: "gauge" | "counter";
  help: string;
  samples: (s: Snapshot) => Sample[];
}

const slotLabels = (s: Snapshot, t: Snapshot["slots"][number]) => ({
  segment: s.name,
  slot: t.slot,
  pid: t.pid,
  tid: t.tid,
  label: t.label,
});

/** The metric families, in output order; docs/CLI.md lists the same. */
const FAMILIES: readonly Family[] = [
  {
    name: "memstats_slot_value",
    type: "gauge",
    help: "Current value of a field of a live slot (bytes for *_bytes fields).",
    samples: (s) =>
      s.slots.flatMap((t) => s.fields.map((f): Sample => [{ ...slotLabels(s, t), field: f }, t.values[f]])),
  },
  {
    name: "memstats_slot_peak",
    type: "gauge",
    help: "Highest value of a field of a live slot since the slot was registered.",
    samples: (s) =>
      s.slots.flatMap((t) => s.fields.map((f): Sample => [{ ...slotLabels(s, t), field: f }, t.peaks[f]])),
  },
  {
    name: "memstats_slot_updated_timestamp_seconds",
    type: "gauge",
    help: "Time of the last update of a live slot, seconds since the Unix epoch.",
    samples: (s) => s.slots.map((t) => [slotLabels(s, t), t.updatedAt / 1000]),
  },
  {
    name: "memstats_segment_value",
    type: "gauge",
    help: "Total of a field over the live slots of a segment (a per-process field counts each process once).",
    samples: (s) => s.fields.map((f) => [{ segment: s.name, field: f }, s.totals[f]]),
  },
  {
    name: "memstats_active_slots",
    type: "gauge",
    help: "Number of live slots (tracked threads) in a segment.",
    samples: (s) => [[{ segment: s.name }, s.activeThreads]],
  },
  {
    name: "memstats_dead_slots",
    type: "gauge",
    help: "Slots whose owner died without releasing them, awaiting reclaim (in no other series).",
    samples: (s) => [[{ segment: s.name }, s.deadSlots]],
  },
  {
    name: "memstats_skipped_slots",
    type: "gauge",
    help: "Slots left out of this read: a write stayed in progress, or the read ran out of time.",
    samples: (s) => [[{ segment: s.name }, s.skippedSlots]],
  },
  {
    name: "memstats_capacity_slots",
    type: "gauge",
    help: "Number of slots of a segment.",
    samples: (s) => [[{ segment: s.name }, s.capacity]],
  },
  {
    name: "memstats_overflow_total",
    type: "counter",
    help: "Registrations refused because the table was full.",
    samples: (s) => [[{ segment: s.name }, s.overflowCount]],
  },
  {
    name: "memstats_reclaimed_total",
    type: "counter",
    help: "Slots taken back from owners that died without releasing them.",
    samples: (s) => [[{ segment: s.name }, s.reclaimedCount]],
  },
];

/**
 * A metric family with its samples, rendered after the snapshot families by
 * {@linkcode renderProm} and {@linkcode renderOpenMetrics} (e.g. the
 * `memstats_segment_up` gauge of `memstats serve`).
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

/** Units of the snapshot families, for OpenMetrics' `# UNIT` lines. */
const UNITS: Readonly<Record<string, string>> = { memstats_slot_updated_timestamp_seconds: "seconds" };

/** The snapshot families with their samples, followed by `extra`. */
function families(snapshots: readonly Snapshot[], extra: readonly MetricFamily[]): MetricFamily[] {
  return [
    ...FAMILIES.map((f): MetricFamily => ({
      name: f.name,
      type: f.type,
      help: f.help,
      unit: UNITS[f.name],
      samples: snapshots.flatMap((s) => f.samples(s)),
    })),
    ...extra,
  ];
}

/**
 * Render snapshots as Prometheus text format 0.0.4.
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
  const out: string[] = [];
  for (const fam of families(snapshots, extra)) {
    out.push(`# HELP ${fam.name} ${escapeHelp(fam.help)}`, `# TYPE ${fam.name} ${fam.type}`);
    for (const [l, v] of fam.samples) out.push(`${fam.name}${labels(l)} ${num(v)}`);
  }
  return out.join("\n") + "\n";
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
  const out: string[] = [];
  for (const fam of families(snapshots, extra)) {
    const family = fam.type === "counter" ? fam.name.replace(/_total$/, "") : fam.name;
    out.push(`# HELP ${family} ${escapeLabel(fam.help)}`, `# TYPE ${family} ${fam.type}`);
    if (fam.unit !== undefined) out.push(`# UNIT ${family} ${fam.unit}`);
    for (const [l, v] of fam.samples) out.push(`${fam.name}${labels(l)} ${num(v)}`);
  }
  out.push("# EOF");
  return out.join("\n") + "\n";
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
