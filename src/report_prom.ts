/**
 * Prometheus text exposition format 0.0.4 of one or more snapshots.
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
    help: "Current value of a field of an active slot (bytes for *_bytes fields).",
    samples: (s) =>
      s.slots.flatMap((t) => s.fields.map((f): Sample => [{ ...slotLabels(s, t), field: f }, t.values[f]])),
  },
  {
    name: "memstats_slot_peak",
    type: "gauge",
    help: "Highest value of a field of an active slot since the slot was registered.",
    samples: (s) =>
      s.slots.flatMap((t) => s.fields.map((f): Sample => [{ ...slotLabels(s, t), field: f }, t.peaks[f]])),
  },
  {
    name: "memstats_slot_updated_timestamp_seconds",
    type: "gauge",
    help: "Time of the last update of an active slot, seconds since the Unix epoch.",
    samples: (s) => s.slots.map((t) => [slotLabels(s, t), t.updatedAt / 1000]),
  },
  {
    name: "memstats_segment_value",
    type: "gauge",
    help: "Sum of a field over the active slots of a segment.",
    samples: (s) => s.fields.map((f) => [{ segment: s.name, field: f }, s.totals[f]]),
  },
  {
    name: "memstats_active_slots",
    type: "gauge",
    help: "Number of active slots (tracked threads) in a segment.",
    samples: (s) => [[{ segment: s.name }, s.activeThreads]],
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
export function renderProm(snapshots: readonly Snapshot[]): string {
  const out: string[] = [];
  for (const fam of FAMILIES) {
    out.push(`# HELP ${fam.name} ${escapeHelp(fam.help)}`, `# TYPE ${fam.name} ${fam.type}`);
    for (const s of snapshots) {
      for (const [l, v] of fam.samples(s)) out.push(`${fam.name}${labels(l)} ${num(v)}`);
    }
  }
  return out.join("\n") + "\n";
}
