/**
 * `memstats watch [name]`: a live view. On a terminal it is full-screen like
 * `top` (refreshed in place, colours, a sparkline of the totals, `q` or
 * Ctrl-C to quit, `s` to change the sort); otherwise it prints one plain
 * snapshot per interval, for logs and pipes.
 *
 * The view follows the name, not the mapping: when the segment is removed
 * the watch ends, and when it is replaced (same name, new file) the watch
 * attaches to the new one.
 *
 * @module
 */
import { statSync } from "node:fs";
import process from "node:process";
import type { MemoryStatsRegistry } from "../registry.ts";
import { type Snapshot, takeSnapshot } from "../report.ts";
import {
  capacityLine,
  fieldHeading,
  formatValue,
  renderReport,
  renderTable,
  SORT_KEYS,
  type Style,
  titleLine,
} from "../report_text.ts";
import type { OptionSpec, Parsed } from "./args.ts";
import { out } from "./io.ts";
import { overflowWarning } from "../report.ts";
import { openReadOnly, segmentName, segmentPath } from "./segments.ts";
import { ALLOW_FOREIGN, checkSort, SORT, stdoutStyle } from "./show.ts";
import { openScreen, type Screen } from "./terminal.ts";

/** Options of `watch`. */
export const WATCH_OPTIONS: readonly OptionSpec[] = [
  { name: "interval", type: "integer", value: "ms", min: 50, help: "Refresh period (default 1000)." },
  SORT,
  { name: "count", type: "integer", value: "n", min: 1, help: "Stop after n refreshes (default: never)." },
  ALLOW_FOREIGN,
];

const BARS = "▁▂▃▄▅▆▇█";

/** A sparkline of `values` scaled between their minimum and maximum. */
export function sparkline(values: readonly number[]): string {
  if (values.length === 0) return "";
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return values.map((v) => BARS[hi === lo ? 0 : Math.round(((v - lo) / (hi - lo)) * (BARS.length - 1))]).join(
    "",
  );
}

function inode(name: string): number | undefined {
  try {
    return statSync(segmentPath(name)).ino;
  } catch {
    return undefined;
  }
}

/** Keeps the attachment and the history of totals between frames. */
class View {
  readonly name: string;
  readonly allowForeign: boolean;
  sort: string | undefined;
  reg: MemoryStatsRegistry;
  ino: number | undefined;
  history: number[] = [];

  constructor(name: string, allowForeign: boolean, sort: string | undefined) {
    this.name = name;
    this.allowForeign = allowForeign;
    this.ino = inode(name);
    this.reg = openReadOnly(name, allowForeign);
    checkSort("watch", sort, this.reg.fields);
    this.sort = sort;
  }

  /** The graphed field: the sort field when it is one, else the first. */
  get graphed(): string {
    return this.sort !== undefined && this.reg.fields.includes(this.sort) ? this.sort : this.reg.fields[0];
  }

  /** A snapshot, or undefined once the segment's name is gone. */
  next(): Snapshot | undefined {
    const ino = inode(this.name);
    if (ino === undefined) return undefined;
    if (ino !== this.ino) {
      this.reg.close();
      this.reg = openReadOnly(this.name, this.allowForeign);
      this.ino = ino;
      this.history = [];
      if (this.sort !== undefined && !this.reg.fields.includes(this.sort) && !SORT_KEYS.includes(this.sort)) {
        this.sort = undefined;
      }
    }
    const snap = takeSnapshot(this.reg);
    this.history.push(snap.totals[this.graphed]);
    if (this.history.length > 240) this.history.shift();
    return snap;
  }

  /** Cycle the sort key: slot, each field, pid, label, age. */
  cycleSort(): void {
    const keys = ["slot", ...this.reg.fields, "pid", "label", "age"];
    this.sort = keys[(keys.indexOf(this.sort ?? "slot") + 1) % keys.length];
    this.history = [];
  }

  close(): void {
    this.reg.close();
  }
}

function frame(v: View, snap: Snapshot, screen: Screen, intervalMs: number, st: Style): string[] {
  const f = v.graphed;
  const width = screen.columns;
  const head = `memstats watch ${v.name} · every ${intervalMs} ms · sort: ${
    v.sort ?? "slot"
  } · q quit, s sort`;
  const clock = new Date(snap.takenAt).toTimeString().slice(0, 8);
  const gap = Math.max(1, width - head.length - clock.length);
  const label = `${fieldHeading(f)} total `;
  const now = formatValue(f, snap.totals[f]);
  const lo = formatValue(f, Math.min(...v.history));
  const hi = formatValue(f, Math.max(...v.history));
  const tail = ` ${now}  (min ${lo}, max ${hi})`;
  const room = Math.max(8, width - label.length - tail.length);
  // Too wide for the terminal: drop the peaks before cutting columns off.
  const peaks = renderTable(snap)[0].length <= width;
  const lines = [
    st.reverse(head + " ".repeat(gap) + clock),
    st.bold(titleLine(snap, peaks)),
    st.bold(label) + st.green(sparkline(v.history.slice(-room))) + tail,
    "",
  ];
  const warn = overflowWarning(snap);
  const footer = [capacityLine(snap), ...(warn ? [st.yellow(warn)] : [])];
  // Header row, totals row and a possible "… more" row besides the slot rows.
  const maxRows = Math.max(1, screen.rows - lines.length - footer.length - 3);
  lines.push(...renderTable(snap, { sort: v.sort, style: st, maxRows, peaks }), ...footer);
  return lines;
}

/** Run `watch`; resolves with the exit code. */
export function watch(args: Parsed): Promise<number> {
  const o = args.options;
  const name = segmentName(args.positional[0]);
  const intervalMs = (o.interval as number | undefined) ?? 1000;
  const count = o.count as number | undefined;
  const view = new View(name, o["allow-foreign"] === true, o.sort as string | undefined);
  const tty = process.stdout.isTTY === true;
  return new Promise((resolve, reject) => {
    let frames = 0;
    let timer: ReturnType<typeof setInterval> | undefined;
    let screen: Screen | undefined;
    const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
    const finish = (code: number, message?: string, error?: unknown) => {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      for (const s of signals) process.off(s, onSignal);
      screen?.close();
      view.close();
      if (message) out(message + "\n");
      if (error !== undefined) reject(error);
      else resolve(code);
    };
    const onSignal = () => finish(0);
    const tick = () => {
      try {
        const snap = view.next();
        if (!snap) return finish(0, `segment ${name} was removed; watch ended`);
        if (screen) screen.draw(frame(view, snap, screen, intervalMs, stdoutStyle()));
        else {
          out(`--- ${new Date(snap.takenAt).toISOString()}\n`);
          out(renderReport(snap, { sort: view.sort }).join("\n") + "\n");
        }
        if (count !== undefined && ++frames >= count) finish(0);
      } catch (e) {
        finish(1, undefined, e);
      }
    };
    for (const s of signals) process.on(s, onSignal);
    if (tty) {
      screen = openScreen((key) => {
        if (key === "q" || key === "Q" || key === "\x03" || key === "\x04") finish(0);
        else if (key === "s") {
          view.cycleSort();
          tick();
        }
      });
    }
    timer = setInterval(tick, intervalMs);
    tick();
  });
}
