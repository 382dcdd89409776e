/**
 * The demo's final summary. A slot's own peak says how high one thread
 * went; how high a whole process went needs the sum of its threads at one
 * moment, so the tracker reads the table every 200 ms while the demo runs
 * and keeps the highest sums per process and overall.
 */
import type { MemoryStatsRegistry } from "../../mod.ts";
import { sumFields } from "../../src/report.ts";
import { formatBytes } from "../../src/report_text.ts";

/** Peaks of one server process. */
export interface ProcessPeak {
  pid: number;
  label: string;
  threads: number;
  requests: number;
  peakArena: number;
  peakRss: number;
}

/** What the summary prints. */
export interface Final {
  processes: ProcessPeak[];
  peakTotalArena: number;
  peakTotalRss: number;
}

/** Samples the table while the demo runs. */
export class Tracker {
  readonly #reg: MemoryStatsRegistry;
  readonly #procs = new Map<number, ProcessPeak>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #started = 0;
  #stoppedAt = 0;
  #peakTotalArena = 0;
  #peakTotalRss = 0;

  constructor(reg: MemoryStatsRegistry) {
    this.#reg = reg;
  }

  start(): void {
    this.#started = Date.now();
    this.#timer = setInterval(() => this.sample(), 200);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#stoppedAt ||= Date.now();
  }

  elapsedSeconds(): number {
    return ((this.#stoppedAt || Date.now()) - this.#started) / 1000;
  }

  sample(): void {
    if (this.#reg.closed) return;
    const slots = [...this.#reg.perThreadStats()];
    const totals = sumFields(this.#reg.fields, this.#reg.fieldKinds, slots);
    this.#peakTotalArena = Math.max(this.#peakTotalArena, totals.arena_bytes);
    this.#peakTotalRss = Math.max(this.#peakTotalRss, totals.rss_bytes);
    const byPid = Map.groupBy(slots, (s) => s.pid);
    for (const [pid, mine] of byPid) {
      const p = this.#procs.get(pid) ??
        { pid, label: "", threads: 0, requests: 0, peakArena: 0, peakRss: 0 };
      const sum = sumFields(this.#reg.fields, this.#reg.fieldKinds, mine);
      const main = mine.find((s) => s.tid === pid); // workers count jobs, the main thread requests
      p.label ||= main?.label ?? "";
      p.threads = Math.max(p.threads, mine.length);
      p.requests = Math.max(p.requests, main?.values.requests ?? 0);
      p.peakArena = Math.max(p.peakArena, sum.arena_bytes);
      p.peakRss = Math.max(p.peakRss, sum.rss_bytes);
      this.#procs.set(pid, p);
    }
  }

  final(): Final {
    this.stop();
    return {
      processes: [...this.#procs.values()].sort((a, b) => a.label.localeCompare(b.label)),
      peakTotalArena: this.#peakTotalArena,
      peakTotalRss: this.#peakTotalRss,
    };
  }
}

/** The summary text. */
export function summarise(f: Final, load: { requests: number; errors: number; seconds: number }): string {
  const rate = load.seconds > 0 ? Math.round(load.requests / load.seconds) : 0;
  const heads = ["PID", "PROCESS", "THREADS", "REQUESTS", "PEAK ARENA", "PEAK RSS"];
  const rows = f.processes.map((p) => [
    String(p.pid),
    p.label,
    String(p.threads),
    String(p.requests),
    formatBytes(p.peakArena),
    formatBytes(p.peakRss),
  ]);
  const sum = (k: "threads" | "requests") => f.processes.reduce((a, p) => a + p[k], 0);
  rows.push([
    "total",
    "",
    String(sum("threads")),
    String(sum("requests")),
    formatBytes(f.peakTotalArena),
    formatBytes(f.peakTotalRss),
  ]);
  const w = heads.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < 2 ? c.padEnd(w[i]) : c.padStart(w[i]))).join("  ");
  return [
    "",
    `summary: ${load.requests} requests in ${load.seconds.toFixed(1)} s (${rate}/s), ${load.errors} errors`,
    line(heads),
    ...rows.map(line),
    "peaks: the most a process (or, for total, everything) held at one moment, sampled every 200 ms",
  ].join("\n");
}
