/**
 * `memstats ls`: every memstats segment on this machine. Each candidate is
 * attached read-only, whoever owns it, without waiting for one still being
 * initialised; a file that fails is left out (`--all` shows it and why).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { MemstatsError } from "../errors.ts";
import { MemoryStatsRegistry } from "../registry.ts";
import { formatAge, formatBytes } from "../report_text.ts";
import type { OptionSpec, Parsed } from "./args.ts";
import { out } from "./io.ts";
import { scanShm, SHM_DIR } from "./segments.ts";

/** Options of `ls`. */
export const LS_OPTIONS: readonly OptionSpec[] = [
  { name: "json", type: "boolean", help: "Print a JSON array (fields as in the table)." },
  { name: "all", type: "boolean", help: `Also list files in ${SHM_DIR} that were skipped, and why.` },
];

/** One row of `ls`. */
export interface LsRow {
  name: string;
  capacity: number | null;
  activeThreads: number | null;
  deadOwners: number | null;
  uid: number;
  owner: string;
  mode: string;
  size: number;
  createdAt: number | null;
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

/** Look at every segment candidate; rows of those that failed carry `error`. */
export function listSegments(): { rows: LsRow[]; skipped: { file: string; reason: string }[] } {
  const scan = scanShm();
  const rows: LsRow[] = [];
  for (const { name, stat } of scan.segments) {
    const row: LsRow = {
      name,
      capacity: null,
      activeThreads: null,
      deadOwners: null,
      uid: stat.uid,
      owner: userName(stat.uid),
      mode: "0" + (stat.mode & 0o777).toString(8),
      size: stat.size,
      createdAt: null,
      error: null,
    };
    try {
      const r = MemoryStatsRegistry.open(name, {
        readOnly: true,
        create: false,
        allowForeignOwner: true,
        openTimeoutMs: 0,
      });
      try {
        row.capacity = r.capacity;
        row.activeThreads = r.aggregateStats().activeThreads;
        row.deadOwners = r.ownerCensus().dead;
        row.createdAt = r.info.createdAt;
      } finally {
        r.close();
      }
    } catch (e) {
      row.error = e instanceof MemstatsError ? `${e.code}: ${e.message}` : String(e);
    }
    rows.push(row);
  }
  return { rows, skipped: scan.skipped };
}

/** Run `ls`. */
export function ls(args: Parsed): number {
  const all = args.options.all === true;
  const { rows, skipped } = listSegments();
  const shown = all ? rows : rows.filter((r) => r.error === null);
  if (args.options.json) {
    const doc = all ? { segments: shown, skipped } : shown;
    out(JSON.stringify(doc, null, 2) + "\n");
    return 0;
  }
  const now = Date.now();
  const heads = ["NAME", "CAPACITY", "ACTIVE", "DEAD", "OWNER", "MODE", "SIZE", "AGE"];
  const cells = shown.map((r) => [
    r.name,
    r.capacity === null ? "-" : String(r.capacity),
    r.activeThreads === null ? "-" : String(r.activeThreads),
    r.deadOwners === null ? "-" : String(r.deadOwners),
    r.owner,
    r.mode,
    formatBytes(r.size),
    r.createdAt === null ? "-" : formatAge(now - r.createdAt),
  ]);
  const w = heads.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) =>
    c.map((x, i) => (i === 0 || i === 4 ? x.padEnd(w[i]) : x.padStart(w[i]))).join("  ");
  const lines = [line(heads), ...cells.map(line)];
  if (all) {
    for (const r of shown) if (r.error) lines.push(`${r.name}: ${r.error}`);
    for (const s of skipped) lines.push(`${SHM_DIR}/${s.file}: skipped, ${s.reason}`);
  }
  if (shown.length === 0) lines.push(`(no memstats segments in ${SHM_DIR})`);
  out(lines.join("\n").trimEnd() + "\n");
  return 0;
}
