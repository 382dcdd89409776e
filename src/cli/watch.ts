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
import { MemstatsError } from "../errors.ts";
import type { MemoryStatsRegistry } from "../registry.ts";
import { type Snapshot, takeSnapshot } from "../report.ts";
import {
  capacityLine,
  displayWidth,
  escapeForTerminal,
  fieldHeading,
  formatValue,
  readNotes,
  renderReport,
  renderTable,
  SORT_KEYS,
  type Style,
  titleLine,
} from "../report_text.ts";
import { CliError, type OptionSpec, type Parsed } from "./args.ts";
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

/** What one refresh found: a snapshot, or why the segment could not be read this time. */
type Reading = { snap: Snapshot } | { problem: string };

/** Keeps the attachment and the history of totals between frames. */
class View {
  readonly name: string;
  readonly allowForeign: boolean;
  sort: string | undefined;
  /** The attachment; undefined after a failed read, until the next refresh attaches again. */
  reg: MemoryStatsRegistry | undefined;
  /** Field names of the last attachment. */
  fields: readonly string[];
  ino: number | undefined;
  history: number[] = [];

  constructor(name: string, allowForeign: boolean, sort: string | undefined) {
    this.name = name;
    this.allowForeign = allowForeign;
    this.ino = inode(name);
    this.reg = openReadOnly(name, allowForeign);
    this.fields = this.reg.fields;
    checkSort("watch", sort, this.fields);
    this.sort = sort;
  }

  /** The graphed field: the sort field when it is one, else the first. */
  get graphed(): string {
    return this.sort !== undefined && this.fields.includes(this.sort) ? this.sort : this.fields[0];
  }

  /**
   * A snapshot, a problem (the segment was truncated under us, or cannot be
   * attached right now: shown, and tried again next refresh), or undefined
   * once the segment's name is gone.
   */
  next(): Reading | undefined {
    const ino = inode(this.name);
    if (ino === undefined) return undefined;
    try {
      if (ino !== this.ino || this.reg === undefined) {
        this.detach();
        // No waiting for a creator here: a refresh must not stall the keys; the next one tries again.
        this.reg = openReadOnly(this.name, this.allowForeign, 0);
        if (ino !== this.ino) this.history = [];
        this.ino = ino;
        this.fields = this.reg.fields;
        if (this.sort !== undefined && !this.fields.includes(this.sort) && !SORT_KEYS.includes(this.sort)) {
          this.sort = undefined;
        }
      }
      const snap = takeSnapshot(this.reg);
      this.history.push(snap.totals[this.graphed]);
      if (this.history.length > 240) this.history.shift();
      return { snap };
    } catch (e) {
      if (!(e instanceof MemstatsError || e instanceof CliError)) throw e;
      // The mapping may be cut short for good: drop it and attach afresh next time.
      this.detach();
      const code = (e as { code?: string }).code;
      return { problem: `${e.message}${code ? ` [${code}]` : ""}` };
    }
  }

  /** Cycle the sort key: slot, each field, pid, label, age. */
  cycleSort(): void {
    const keys = ["slot", ...this.fields, "pid", "label", "age"];
    this.sort = keys[(keys.indexOf(this.sort ?? "slot") + 1) % keys.length];
    this.history = [];
  }

  detach(): void {
    this.reg?.close();
    this.reg = undefined;
  }

  close(): void {
    this.detach();
  }
}

/** The screen while the segment cannot be read: the heading, the problem, and that it is retried. */
function problemFrame(v: View, problem: string, screen: Screen, intervalMs: number, st: Style): string[] {
  const head = `memstats watch ${v.name} · every ${intervalMs} ms · q quit`;
  const clock = new Date().toTimeString().slice(0, 8);
  const gap = Math.max(1, screen.columns - displayWidth(head) - clock.length);
  return [
    st.reverse(head + " ".repeat(gap) + clock),
    "",
    ...wrap(`cannot read ${v.name}: ${escapeForTerminal(problem)}`, screen.columns).map(st.yellow),
    `trying again every ${intervalMs} ms`,
  ];
}

/** `text` broken at spaces into lines of at most `width` columns (a longer word gets a line of its own). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && displayWidth(line) + 1 + displayWidth(word) > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines;
}

function frame(v: View, snap: Snapshot, screen: Screen, intervalMs: number, st: Style): string[] {
  const f = v.graphed;
  const width = screen.columns;
  const head = `memstats watch ${v.name} · every ${intervalMs} ms · sort: ${
    v.sort ?? "slot"
  } · q quit, s sort`;
  const clock = new Date(snap.takenAt).toTimeString().slice(0, 8);
  const gap = Math.max(1, width - displayWidth(head) - clock.length);
  const label = `${fieldHeading(f)} total `;
  const now = formatValue(f, snap.totals[f]);
  const lo = formatValue(f, Math.min(...v.history));
  const hi = formatValue(f, Math.max(...v.history));
  const tail = ` ${now}  (min ${lo}, max ${hi})`;
  const room = Math.max(8, width - label.length - tail.length);
  // Too wide for the terminal: drop the peaks before cutting columns off.
  const peaks = displayWidth(renderTable(snap)[0]) <= width;
  const lines = [
    st.reverse(head + " ".repeat(gap) + clock),
    st.bold(titleLine(snap, peaks)),
    st.bold(label) + st.green(sparkline(v.history.slice(-room))) + tail,
    "",
  ];
  const warn = overflowWarning(snap);
  // Dead and skipped slots each on a line of their own: appended to the capacity line, a
  // narrow terminal would cut them off.
  const footer = [
    capacityLine(snap, false),
    ...readNotes(snap).map(st.yellow),
    ...(warn ? [st.yellow(warn)] : []),
  ];
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
    let done = false;
    let timer: ReturnType<typeof setInterval> | undefined;
    let screen: Screen | undefined;
    const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
    // Every way out comes through here, and the terminal is restored whatever else fails.
    const finish = (code: number, message?: string, error?: unknown) => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      for (const s of signals) process.off(s, onSignal);
      try {
        screen?.close();
      } catch (e) {
        error ??= e;
      }
      try {
        view.close();
      } catch { /* nothing left to release */ }
      try {
        if (message) out(message + "\n");
      } catch (e) {
        error ??= e;
      }
      if (error !== undefined) reject(error);
      else resolve(code);
    };
    const onSignal = () => finish(0);
    const tick = () => {
      if (done) return;
      try {
        const reading = view.next();
        if (!reading) return finish(0, `segment ${name} was removed; watch ended`);
        const st = stdoutStyle();
        if (screen) {
          screen.draw(
            "snap" in reading
              ? frame(view, reading.snap, screen, intervalMs, st)
              : problemFrame(view, reading.problem, screen, intervalMs, st),
          );
        } else if ("snap" in reading) {
          out(`--- ${new Date(reading.snap.takenAt).toISOString()}\n`);
          out(renderReport(reading.snap, { sort: view.sort }).join("\n") + "\n");
        } else {
          out(`--- ${new Date().toISOString()}\n`);
          out(
            `cannot read ${name}: ${escapeForTerminal(reading.problem)}; trying again in ${intervalMs} ms\n`,
          );
        }
        if (count !== undefined && ++frames >= count) finish(0);
      } catch (e) {
        finish(1, undefined, e);
      }
    };
    for (const s of signals) process.on(s, onSignal);
    if (tty) {
      screen = openScreen((key) => {
        // Raw mode turns Ctrl-C, Ctrl-D and Ctrl-\ into keys: each of them quits.
        if (key === "q" || key === "Q" || key === "\x03" || key === "\x04" || key === "\x1c") finish(0);
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
