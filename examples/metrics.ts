/**
 * A `/metrics` body (Prometheus text format 0.0.4) for every live slot of a
 * registry: the figures of every process, isolate and Worker that writes
 * into the segment, whichever of them answers the scrape. Used by the
 * server recipes next to this file; copy it into your application.
 *
 * The `memstats serve` command gives the full exposition (peaks, counters,
 * OpenMetrics); this is the few lines an application needs to answer on
 * its own port.
 *
 * In your application, import from `"@memstats/shm"` (`jsr:` or `npm:`) rather than `"../mod.ts"`.
 */
import type { MemoryStatsRegistry } from "../mod.ts";

/** A Prometheus label value: backslash, double quote and line feed escaped. */
function quote(value: string | number): string {
  return `"${String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/**
 * The exposition of one read of `registry` (so the totals add up to the
 * slots listed): a gauge per slot and field, the totals, and the slots
 * counted and left out.
 */
export function renderMetrics(registry: MemoryStatsRegistry): string {
  const seg = quote(registry.name);
  const t = registry.snapshot();
  const lines = [
    "# HELP memstats_slot_value Current value of a field in one slot (one thread of one process).",
    "# TYPE memstats_slot_value gauge",
  ];
  for (let k = 0; k < t.count; k++) {
    const who = `segment=${seg},slot="${t.slot[k]}",pid="${t.pid[k]}",tid="${t.tid[k]}",label=${
      quote(t.labels[k])
    }`;
    t.fields.forEach((field, j) =>
      lines.push(`memstats_slot_value{${who},field=${quote(field)}} ${t.values[j][k]}`)
    );
  }
  lines.push(
    "# HELP memstats_segment_value Total of a field over live slots (per-process fields once per process).",
    "# TYPE memstats_segment_value gauge",
    ...t.fields.map((f, j) => `memstats_segment_value{segment=${seg},field=${quote(f)}} ${t.totals[j]}`),
    "# HELP memstats_active_slots Slots with a live owner.",
    "# TYPE memstats_active_slots gauge",
    `memstats_active_slots{segment=${seg}} ${t.count}`,
    "# HELP memstats_dead_slots Slots whose owner died, awaiting reclaim.",
    "# TYPE memstats_dead_slots gauge",
    `memstats_dead_slots{segment=${seg}} ${t.deadSlots}`,
    "# HELP memstats_skipped_slots Slots this read left out (a write in progress, or out of time).",
    "# TYPE memstats_skipped_slots gauge",
    `memstats_skipped_slots{segment=${seg}} ${t.skippedSlots}`,
    "",
  );
  return lines.join("\n");
}
