/**
 * `memstats gc [name...]`: reclaim the slots of dead owners in the named
 * segments, or in every segment on the machine. With `--remove-empty` it
 * also removes segments with no live owner that are older than `--grace`
 * (a segment just created has no owner yet: its creator is about to
 * register, and removing it then would orphan that process's figures).
 *
 * This and `rm` are the only commands that write a segment.
 *
 * @module
 */
import { MemstatsError } from "../errors.ts";
import { MemoryStatsRegistry } from "../registry.ts";
import type { OptionSpec, Parsed } from "./args.ts";
import { out } from "./io.ts";
import { explain, scanShm, segmentName } from "./segments.ts";
import { ALLOW_FOREIGN } from "./show.ts";

/** Options of `gc`. */
export const GC_OPTIONS: readonly OptionSpec[] = [
  { name: "remove-empty", type: "boolean", help: "Also remove segments with no live owner." },
  {
    name: "grace",
    type: "integer",
    value: "ms",
    help: "With --remove-empty, keep segments younger than this (default 5000).",
  },
  ALLOW_FOREIGN,
];

/** Reclaim (and maybe remove) one segment; returns its report line, or the error that stopped it. */
function collect(
  name: string,
  removeEmpty: boolean,
  graceMs: number,
  allowForeign: boolean,
): string | MemstatsError {
  let reg: MemoryStatsRegistry;
  try {
    reg = MemoryStatsRegistry.open(name, {
      create: false,
      allowForeignOwner: allowForeign,
      openTimeoutMs: 0,
    });
  } catch (e) {
    if (e instanceof MemstatsError) return e;
    throw e;
  }
  let line: string;
  let remove = false;
  try {
    const reclaimed = reg.reclaim();
    const { live } = reg.ownerCensus();
    const age = Date.now() - reg.info.createdAt;
    line = `${name}: reclaimed ${reclaimed} dead slot${reclaimed === 1 ? "" : "s"}, ${live} live`;
    remove = removeEmpty && live === 0 && age >= graceMs;
    if (removeEmpty && live === 0 && !remove) line += `, kept (younger than ${graceMs} ms)`;
  } finally {
    reg.close();
  }
  if (remove) {
    MemoryStatsRegistry.unlink(name);
    line += ", removed";
  }
  return line;
}

/** Run `gc`. */
export function gc(args: Parsed): number {
  const o = args.options;
  const removeEmpty = o["remove-empty"] === true;
  const grace = (o.grace as number | undefined) ?? 5000;
  const allowForeign = o["allow-foreign"] === true;
  const named = args.positional.length > 0;
  const names = named ? args.positional.map((a) => segmentName(a)) : scanShm().segments.map((c) => c.name);
  const results = names.map((n) => ({ name: n, r: collect(n, removeEmpty, grace, allowForeign) }));
  const lines = results.map(({ name, r }) => typeof r === "string" ? r : `${name}: skipped, ${r.code}`);
  out((lines.length ? lines.join("\n") : "no memstats segments found") + "\n");
  // A segment named on the command line that could not be collected is an error; one found by the scan is not.
  const failed = named ? results.find(({ r }) => typeof r !== "string") : undefined;
  if (failed) explain(failed.r);
  return 0;
}
