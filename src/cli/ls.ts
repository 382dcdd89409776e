/**
 * `memstats ls`: every memstats segment on this machine. Each candidate is
 * attached read-only, whoever owns it, without waiting for one still being
 * initialised, and read once.
 *
 * Other users' segments are not to be trusted, so `ls` bounds what they can
 * cost it: each segment's read gets a small time budget (slots not read in
 * time, or stuck mid-update, are counted as skipped, never waited for), and
 * the whole listing a total budget, after which the remaining segments are
 * listed from their file facts alone. A segment truncated while it is read
 * is reported on its row, never a crash. File names and messages are
 * escaped before they reach the terminal.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { MemstatsError } from "../errors.ts";
import { MemoryStatsRegistry } from "../registry.ts";
import { displayWidth, escapeForTerminal, formatAge, formatBytes, padToWidth } from "../report_text.ts";
import type { OptionSpec, Parsed } from "./args.ts";
import { out } from "./io.ts";
import { scanShm, SHM_DIR } from "./segments.ts";

/** The most one segment's read may take, in ms. */
export const SEGMENT_BUDGET_MS = 250;
/** The default for the whole listing, in ms. */
export const TOTAL_BUDGET_MS = 2000;

/** Options of `ls`. */
export const LS_OPTIONS: readonly OptionSpec[] = [
  { name: "json", type: "boolean", help: "Print a JSON array (fields as in the table)." },
  { name: "all", type: "boolean", help: `Also list files in ${SHM_DIR} that were skipped, and why.` },
  {
    name: "budget",
    type: "integer",
    value: "ms",
    min: 1,
    help: `Most time spent reading segments in all (default ${TOTAL_BUDGET_MS}; ` +
      `each gets at most ${SEGMENT_BUDGET_MS}).`,
  },
];

/** One row of `ls`. */
export interface LsRow {
  name: string;
  capacity: number | null;
  activeThreads: number | null;
  /** Slots of dead owners, awaiting reclaim. */
  deadOwners: number | null;
  /** Slots this read left out: stuck mid-update, or not reached within the segment's budget. */
  skippedSlots: number | null;
  uid: number;
  owner: string;
  mode: string;
  size: number;
  createdAt: number | null;
  /** Why the segment could not be read (`CODE: message`), or null. */
  error: string | null;
}

let users: Map<number, string> | undefined;

/** A user name for a uid, from /etc/passwd; the number when unknown. */
function userName(uid: number): string {
  if (!users) {
    users = new Map();
    try {
      for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
        const [name, , id] = line.split(":");
        if (name && id && !users.has(Number(id))) users.set(Number(id), name);
      }
    } catch { /* no passwd file: numbers it is */ }
  }
  return users.get(uid) ?? String(uid);
}

/** Read one segment within `budgetMs` into `row`. */
function readInto(row: LsRow, budgetMs: number): void {
  const r = MemoryStatsRegistry.open(row.name, {
    readOnly: true,
    create: false,
    allowForeignOwner: true,
    openTimeoutMs: 0,
    readBudgetMs: budgetMs,
  });
  try {
    row.capacity = r.capacity;
    row.createdAt = r.info.createdAt;
    // One bounded read gives live, dead and skipped slots alike.
    const a = r.aggregateStats();
    row.activeThreads = a.activeThreads;
    row.deadOwners = a.deadSlots;
    row.skippedSlots = a.skippedSlots;
  } finally {
    r.close();
  }
}

/**
 * Look at every segment candidate within `totalBudgetMs`; rows of those
 * that failed, or were not reached in time, carry `error`.
 */
export function listSegments(
  totalBudgetMs = TOTAL_BUDGET_MS,
): { rows: LsRow[]; skipped: { file: string; reason: string }[] } {
  const scan = scanShm();
  const rows: LsRow[] = [];
  const deadline = performance.now() + totalBudgetMs;
  for (const { name, stat } of scan.segments) {
    const row: LsRow = {
      name,
      capacity: null,
      activeThreads: null,
      deadOwners: null,
      skippedSlots: null,
      uid: stat.uid,
      owner: userName(stat.uid),
      mode: "0" + (stat.mode & 0o777).toString(8),
      size: stat.size,
      createdAt: null,
      error: null,
    };
    const left = deadline - performance.now();
    if (left < 1) {
      row.error = `BUDGET: not read, ls spent its ${totalBudgetMs} ms (raise it with --budget)`;
    } else {
      try {
        readInto(row, Math.min(SEGMENT_BUDGET_MS, left));
      } catch (e) {
        row.error = e instanceof MemstatsError ? `${e.code}: ${e.message}` : String(e);
      }
    }
    rows.push(row);
  }
  return { rows, skipped: scan.skipped };
}

// Characters JSON.stringify leaves as they are but a terminal would act on.
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** JSON with C1 controls and bidi characters escaped too (JSON.stringify escapes only C0). */
export function safeJson(doc: unknown): string {
  return JSON.stringify(doc, null, 2).replace(
    JSON_UNSAFE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Run `ls`. */
export function ls(args: Parsed): number {
  const all = args.options.all === true;
  const { rows, skipped } = listSegments((args.options.budget as number | undefined) ?? TOTAL_BUDGET_MS);
  if (args.options.json) {
    const doc = all ? { segments: rows, skipped } : rows;
    out(safeJson(doc) + "\n");
    return 0;
  }
  const now = Date.now();
  const num = (n: number | null) => (n === null ? "-" : String(n));
  const heads = ["NAME", "CAPACITY", "ACTIVE", "DEAD", "SKIPPED", "OWNER", "MODE", "SIZE", "AGE"];
  const cells = rows.map((r) => [
    r.name,
    num(r.capacity),
    num(r.activeThreads),
    num(r.deadOwners),
    num(r.skippedSlots),
    escapeForTerminal(r.owner),
    r.mode,
    formatBytes(r.size),
    r.createdAt === null ? "-" : formatAge(now - r.createdAt),
  ]);
  const left = new Set([0, 5]);
  const w = heads.map((h, i) => Math.max(h.length, ...cells.map((c) => displayWidth(c[i]))));
  const line = (c: string[]) => c.map((x, i) => padToWidth(x, w[i], !left.has(i))).join("  ").trimEnd();
  const lines = [line(heads), ...cells.map(line)];
  if (rows.some((r) => (r.skippedSlots ?? 0) > 0)) {
    lines.push(
      `SKIPPED: slots not read, stuck mid-update or not reached within ${SEGMENT_BUDGET_MS} ms per segment`,
    );
  }
  for (const r of rows) if (r.error) lines.push(`${r.name}: ${escapeForTerminal(r.error)}`);
  if (all) {
    for (const s of skipped) {
      lines.push(`${SHM_DIR}/${escapeForTerminal(s.file)}: skipped, ${escapeForTerminal(s.reason)}`);
    }
  }
  if (rows.length === 0) lines.push(`(no memstats segments in ${SHM_DIR})`);
  out(lines.join("\n").trimEnd() + "\n");
  return 0;
}
