/**
 * `memstats rm <name>`: remove a segment name. Processes that have it
 * mapped keep their mapping, but their figures are no longer visible to any
 * reader, so a segment with live owners is kept unless `--force`.
 *
 * A segment whose header is unusable (never finished, truncated, corrupt)
 * has no owner anyone could judge and is removed. A file that is not a
 * segment at all needs `--force`: not a regular file, or non-empty without
 * the magic bytes (whatever its size: a creator sizes its segment in one
 * step, so no segment is ever a few bytes long), and so does a segment of a
 * layout we cannot read.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { MemstatsError } from "../errors.ts";
import { MemoryStatsRegistry } from "../registry.ts";
import { CliError, type OptionSpec, type Parsed, UsageError } from "./args.ts";
import { out } from "./io.ts";
import { explain, notASegment, probeFile, segmentName } from "./segments.ts";
import { ALLOW_FOREIGN } from "./show.ts";

/** Options of `rm`. */
export const RM_OPTIONS: readonly OptionSpec[] = [
  { name: "force", type: "boolean", help: "Remove even while live processes own slots, or when unreadable." },
  ALLOW_FOREIGN,
];

// Header problems that mean nobody can be using the segment.
const BROKEN = new Set(["TRUNCATED", "SCHEMA"]);

/** Live owner pids of a segment, or a reason it cannot be judged. */
function liveOwners(name: string, allowForeign: boolean): { live: number; pids: number[] } | string {
  let reg: MemoryStatsRegistry;
  try {
    reg = MemoryStatsRegistry.open(name, {
      readOnly: true,
      create: false,
      allowForeignOwner: allowForeign,
      openTimeoutMs: 0,
    });
  } catch (e) {
    if (e instanceof MemstatsError && BROKEN.has(e.code)) return "";
    if (e instanceof MemstatsError && (e.code === "BAD_MAGIC" || e.code === "VERSION")) {
      return `${e.message} (${e.code})`;
    }
    explain(e);
  }
  try {
    const { live } = reg.ownerCensus();
    // For the message only: the census above is what decides.
    const pids = [...new Set([...reg.perThreadStats()].map((s) => s.pid))]
      .filter((pid) => existsSync(`/proc/${pid}`))
      .sort((a, b) => a - b);
    return { live, pids };
  } finally {
    reg.close();
  }
}

/** Run `rm`. */
export function rm(args: Parsed): number {
  if (args.positional.length === 0) throw new UsageError("rm", "name the segment to remove");
  const force = args.options.force === true;
  const name = segmentName(args.positional[0]);
  const foreign = notASegment(probeFile(name));
  if (foreign !== undefined && !force) {
    throw new CliError(
      `refusing to remove ${name}: it is not a memstats segment (${foreign}); ` +
        `check the name with \`memstats ls --all\`, or pass --force to remove it anyway`,
      "BAD_MAGIC",
    );
  }
  const owners = liveOwners(name, args.options["allow-foreign"] === true);
  if (typeof owners === "string" && owners !== "" && !force) {
    throw new CliError(`refusing to remove ${name}: ${owners}; pass --force to remove it anyway`);
  }
  if (typeof owners !== "string" && owners.live > 0 && !force) {
    throw new CliError(
      `refusing to remove ${name}: ${owners.live} live owner${owners.live === 1 ? "" : "s"} ` +
        `(pid ${owners.pids.join(", ")}); stop ${owners.live === 1 ? "it" : "them"} first, or pass --force`,
    );
  }
  try {
    if (!MemoryStatsRegistry.unlink(name)) throw new CliError(`segment ${name} does not exist`, "NOT_FOUND");
  } catch (e) {
    if (e instanceof CliError) throw e;
    explain(e);
  }
  out(`removed ${name}\n`);
  return 0;
}
