/**
 * `memstats show [name]`: one snapshot as a table, JSON or Prometheus text.
 *
 * @module
 */
import process from "node:process";
import { snapshotJson, takeSnapshot } from "../report.ts";
import { promChunks, promSegment } from "../report_prom.ts";
import { ANSI, PLAIN, renderReport, SORT_KEYS, type Style } from "../report_text.ts";
import { type OptionSpec, type Parsed, UsageError } from "./args.ts";
import { out } from "./io.ts";
import { openReadOnly, segmentName } from "./segments.ts";

/** `--allow-foreign`, shared by the commands that attach. */
export const ALLOW_FOREIGN: OptionSpec = {
  name: "allow-foreign",
  type: "boolean",
  help: "Attach a segment owned by another user (refused by default).",
};

/** `--sort`, shared by show and watch. */
export const SORT: OptionSpec = {
  name: "sort",
  type: "string",
  value: "key",
  help: "Order rows by slot (default), pid, label, age, or a field name (largest first).",
};

/** Options of `show`. */
export const SHOW_OPTIONS: readonly OptionSpec[] = [
  { name: "json", type: "boolean", help: "Print the snapshot as JSON (schema in docs/CLI.md)." },
  { name: "prom", type: "boolean", help: "Print Prometheus text exposition format 0.0.4." },
  SORT,
  ALLOW_FOREIGN,
];

/** Throw a usage error unless `key` is a sort key for these fields. */
export function checkSort(command: string, key: string | undefined, fields: readonly string[]): void {
  if (key === undefined || SORT_KEYS.includes(key) || fields.includes(key)) return;
  throw new UsageError(
    command,
    `unknown sort key ${JSON.stringify(key)}; use ${SORT_KEYS.join(", ")} or a field: ${fields.join(", ")}`,
  );
}

/** Colours when stdout is a terminal and NO_COLOR is unset. */
export function stdoutStyle(): Style {
  return process.stdout.isTTY && !process.env.NO_COLOR ? ANSI : PLAIN;
}

/** Run `show`. */
export function show(args: Parsed): number {
  const o = args.options;
  if (o.json && o.prom) throw new UsageError("show", "--json and --prom exclude each other");
  const name = segmentName(args.positional[0]);
  const reg = openReadOnly(name, o["allow-foreign"] === true);
  try {
    checkSort("show", o.sort as string | undefined, reg.fields);
    if (o.prom) {
      // Streamed from the read's columns: no record objects, no whole-body string, whatever the table's size.
      for (const chunk of promChunks([promSegment(reg)])) out(chunk);
      return 0;
    }
    const snap = takeSnapshot(reg);
    if (o.json) out(JSON.stringify(snapshotJson(snap), null, 2) + "\n");
    else {out(
        renderReport(snap, { sort: o.sort as string | undefined, style: stdoutStyle() }).join("\n") + "\n",
      );}
    return 0;
  } finally {
    reg.close();
  }
}
