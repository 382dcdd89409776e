/**
 * On-demand and at-exit reports, like the JVM's thread dump: `kill -QUIT
 * <pid>` makes the process print its registry's table to stderr and carry
 * on; `MEMSTATS_REPORT` makes it print or write the same report when it
 * exits.
 *
 * The exit report runs before the registry's own exit hook releases this
 * process's slots, so it still shows them with their final figures and
 * peaks. A report file is written to a new temporary file next to it and
 * renamed into place: a symbolic link planted at the path is replaced, never
 * followed, and a reader never sees half a report.
 *
 * Without `installDiagnostics`, SIGQUIT keeps its default action: the
 * process ends (exit status 131, and a core dump where enabled), as for any
 * program.
 *
 * @module
 */
import { renameSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { MemstatsError } from "./errors.ts";
import { shim } from "./ffi/mod.ts";
import { type DiagnosticSignal, runtime } from "./runtime/mod.ts";
import { MemoryStatsRegistry } from "./registry.ts";
import { overflowWarning, type Snapshot, snapshotJson, takeSnapshot } from "./report.ts";
import { formatValue, readNotes, renderTable } from "./report_text.ts";

/** Environment variable asking for a report at exit. */
export const REPORT_ENV = "MEMSTATS_REPORT";

/**
 * Options for {@linkcode installDiagnostics}.
 *
 * @example
 * ```ts
 * import { type DiagnosticsOptions, installDiagnostics, MemoryStatsRegistry } from "@memstats/shm";
 * const reg = MemoryStatsRegistry.open("/memstats-app");
 * const options: DiagnosticsOptions = { signal: "SIGUSR2", atExit: "json:/tmp/memstats-report.json" };
 * installDiagnostics(reg, options);
 * ```
 */
export interface DiagnosticsOptions {
  /** Signal that prints the report (default `"SIGQUIT"`); `null` installs no listener. */
  signal?: DiagnosticSignal | null;
  /**
   * What to do at exit, in `MEMSTATS_REPORT`'s syntax (default: that
   * variable): `""` or `"0"` nothing; `"1"` or `"text"` the text report to
   * stderr; `"json"` the JSON report to stderr; `"json:/path"` or
   * `"text:/path"` into that file.
   */
  atExit?: string;
  /** Where reports go instead of stderr (tests, loggers). */
  write?: (text: string) => void;
}

/**
 * Installed diagnostics; see {@linkcode installDiagnostics}.
 *
 * @example
 * ```ts
 * import { type Diagnostics, installDiagnostics, MemoryStatsRegistry } from "@memstats/shm";
 * const reg = MemoryStatsRegistry.open("/memstats-app");
 * const diag: Diagnostics = installDiagnostics(reg);
 * console.error(diag.report()); // the same text SIGQUIT prints
 * diag.uninstall();
 * reg.close();
 * ```
 */
export interface Diagnostics extends Disposable {
  /** The text report, now. */
  report(): string;
  /** Remove the signal listener and cancel the exit report. Idempotent. */
  uninstall(): void;
  /** Same as {@linkcode Diagnostics.uninstall}, for `using`. */
  [Symbol.dispose](): void;
}

/** The text report of a snapshot: a heading, tracked threads, the first field's total, the table, the warning. */
export function renderDiagnosticReport(snap: Snapshot, pid: number, note?: string): string {
  const first = snap.fields[0];
  const lines = [
    `=== memstats report: pid ${pid}, segment ${snap.name}, ${new Date(snap.takenAt).toISOString()}`,
    ...(note ? [note] : []),
    `tracked threads: ${snap.activeThreads} of ${snap.capacity} slots`,
    `total ${first}: ${formatValue(first, snap.totals[first])} (${snap.totals[first]})`,
    ...renderTable(snap),
    ...readNotes(snap),
  ];
  const warn = overflowWarning(snap);
  if (warn) lines.push(warn);
  lines.push("=== end of memstats report");
  return lines.join("\n") + "\n";
}

type ExitPlan = { format: "text" | "json"; path?: string } | undefined;

function parsePlan(value: string | undefined): ExitPlan {
  const v = (value ?? "").trim();
  if (v === "" || v === "0") return undefined;
  if (v === "1" || v === "text") return { format: "text" };
  if (v === "json") return { format: "json" };
  const m = /^(json|text):(.+)$/.exec(v);
  if (m) return { format: m[1] as "json" | "text", path: m[2] };
  throw new MemstatsError(
    "INVALID_ARGUMENT",
    `${REPORT_ENV}=${JSON.stringify(v)} is not understood; use 1, text, json, json:/path or text:/path`,
  );
}

function stderr(text: string): void {
  try {
    writeSync(2, text);
  } catch { /* stderr closed: nowhere to report */ }
}

/**
 * Print `registry`'s report to stderr whenever the process receives
 * SIGQUIT (the process keeps running), and at exit as `MEMSTATS_REPORT`
 * asks. Call it on the main thread. The report lists tracked threads, the
 * total of the first field (arena bytes), the per-thread table and the
 * overflow warning.
 *
 * @example
 * ```ts
 * import { installDiagnostics, MemoryStatsRegistry } from "@memstats/shm";
 *
 * const reg = MemoryStatsRegistry.open("/memstats-app");
 * reg.registerSlot({ label: "main" })?.set(1 << 20);
 * const diag = installDiagnostics(reg); // now `kill -QUIT <pid>` prints the table
 * console.error(diag.report());
 * diag.uninstall();
 * reg.close();
 * ```
 */
export function installDiagnostics(
  registry: MemoryStatsRegistry,
  options: DiagnosticsOptions = {},
): Diagnostics {
  const p = runtime();
  const pid = shim().ms_getpid();
  const write = options.write ?? stderr;
  let plan: ExitPlan;
  try {
    plan = parsePlan(options.atExit ?? p.env(REPORT_ENV));
  } catch (e) {
    write(`memstats: ${(e as Error).message}; no exit report\n`); // a typo in a variable must not stop the program
  }
  const name = registry.name;
  let active = true;
  const report = () => renderDiagnosticReport(takeSnapshot(registry), pid);
  const signal = options.signal === undefined ? "SIGQUIT" : options.signal;
  let removeListener: (() => void) | undefined;
  if (signal !== null) {
    try {
      removeListener = p.onSignal(signal, () => {
        try {
          write(report());
        } catch (e) {
          write(`memstats report failed: ${(e as Error).message}\n`);
        }
      });
    } catch (e) {
      throw new MemstatsError(
        "INVALID_ARGUMENT",
        `cannot listen for ${signal} here (${
          (e as Error).message
        }); call installDiagnostics on the main thread`,
      );
    }
  }
  if (plan) {
    const chosen = plan;
    p.onExitFirst(() => {
      if (active) exitReport(registry, name, chosen, write, pid);
    });
  }
  const uninstall = () => {
    active = false;
    removeListener?.();
    removeListener = undefined;
  };
  return { report, uninstall, [Symbol.dispose]: uninstall };
}

function exitReport(
  registry: MemoryStatsRegistry,
  name: string,
  plan: NonNullable<ExitPlan>,
  write: (text: string) => void,
  pid: number,
): void {
  let reg = registry;
  let note: string | undefined;
  try {
    if (registry.closed) {
      // Closed before exit: report the table as other processes still see it.
      reg = MemoryStatsRegistry.open(name, { readOnly: true, create: false, openTimeoutMs: 0 });
      note = "(this process closed its registry before exit; its own slots are released)";
    }
    const snap = takeSnapshot(reg);
    const text = plan.format === "json"
      ? JSON.stringify(snapshotJson(snap), null, 2) + "\n"
      : renderDiagnosticReport(snap, pid, note);
    if (plan.path) writeReportFile(plan.path, text, pid);
    else write(text);
  } catch (e) {
    const where = plan.path
      ? `; write it to a path in a directory of your own (${REPORT_ENV}=${plan.format}:/path)`
      : "";
    write(`memstats exit report for ${name} failed: ${(e as Error).message}${where}\n`);
  } finally {
    if (reg !== registry) reg.close();
  }
}

/**
 * Write `text` to `path` without following a symbolic link there: into a
 * new file next to it (created exclusively, so nothing planted is opened),
 * then renamed over `path` (rename replaces a link, it does not follow it).
 */
function writeReportFile(path: string, text: string, pid: number): void {
  const slash = path.lastIndexOf("/");
  const dir = slash === -1 ? "." : path.slice(0, slash) || "/";
  const base = path.slice(slash + 1);
  const tmp = `${dir}/.${base}.${pid}.${Math.random().toString(36).slice(2, 10)}.tmp`;
  writeFileSync(tmp, text, { flag: "wx" });
  try {
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch { /* already gone */ }
    throw e;
  }
}
