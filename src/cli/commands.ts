/**
 * The command table. A new command (e.g. `serve`) is one more entry here;
 * the dispatcher, `--help` and usage errors need nothing else.
 *
 * @module
 */
import type { OptionSpec, Parsed } from "./args.ts";
import { gc, GC_OPTIONS } from "./gc.ts";
import { ls, LS_OPTIONS } from "./ls.ts";
import { rm, RM_OPTIONS } from "./rm.ts";
import { serve, SERVE_OPTIONS } from "./serve.ts";
import { show, SHOW_OPTIONS } from "./show.ts";
import { watch, WATCH_OPTIONS } from "./watch.ts";

/** One subcommand. */
export interface Command {
  /** Name typed after `memstats`. */
  readonly name: string;
  /** Arguments after the name, for the usage line. */
  readonly synopsis: string;
  /** One line for the command list. */
  readonly summary: string;
  /** More help, shown by `memstats <command> --help`. */
  readonly details: string;
  /** Options accepted. */
  readonly options: readonly OptionSpec[];
  /** Most positional arguments accepted (Infinity: any number). */
  readonly maxPositional: number;
  /** Run; returns the exit code. */
  run(args: Parsed): number | Promise<number>;
}

const NAME_HELP = "A name is `/` plus letters, digits, `.`, `_`, `-` (the leading `/` may be left out);\n" +
  "without one, the default segment is used: $MEMSTATS_SEGMENT, or /memstats-<uid>.";

/** Every command, in help order. */
export const COMMANDS: readonly Command[] = [
  {
    name: "show",
    synopsis: "[name] [--json | --prom] [--sort key] [--allow-foreign]",
    summary: "Print the active slots of a segment once.",
    details: "Prints a table: slot, thread id, pid, tid, label, each field as now / peak in\n" +
      "human units (K, M, G = KiB, MiB, GiB), age of the last update, a totals row, the\n" +
      "capacity used and, when registrations were refused, the capacity to raise to.\n" + NAME_HELP,
    options: SHOW_OPTIONS,
    maxPositional: 1,
    run: show,
  },
  {
    name: "watch",
    synopsis: "[name] [--interval ms] [--sort key] [--count n] [--allow-foreign]",
    summary: "Live view of a segment, refreshed in place (q to quit).",
    details: "On a terminal: full screen, colours, a sparkline of the totals; keys: q or Ctrl-C\n" +
      "quit, s cycles the sort. Piped: prints one snapshot per interval.\n" + NAME_HELP,
    options: WATCH_OPTIONS,
    maxPositional: 1,
    run: watch,
  },
  {
    name: "serve",
    synopsis: "[name] [--host address] [--port port] [--allow-host names] [--totals-only] [--allow-foreign]",
    summary: "HTTP server: Prometheus /metrics, JSON /api/snapshot and a live dashboard.",
    details: "Attaches read-only and serves /metrics (the show --prom exposition, OpenMetrics 1.0\n" +
      "when the Accept header asks for it), /api/snapshot (the show --json document) and a\n" +
      "dashboard at / refreshed every second. Listens on 127.0.0.1:9464 by default. A\n" +
      "segment that is missing, removed or corrupt is served as an error state\n" +
      "(memstats_segment_up 0) until it comes back. Stop it with Ctrl-C or SIGTERM.\n" + NAME_HELP,
    options: SERVE_OPTIONS,
    maxPositional: 1,
    run: serve,
  },
  {
    name: "ls",
    synopsis: "[--json] [--all]",
    summary: "List every memstats segment on this machine.",
    details: "Shows name, capacity, active slots, slots of dead owners, owner, mode, size and\n" +
      "age. Other files in /dev/shm are skipped; they are never opened for writing.",
    options: LS_OPTIONS,
    maxPositional: 0,
    run: ls,
  },
  {
    name: "rm",
    synopsis: "<name> [--force] [--allow-foreign]",
    summary: "Remove a segment (refused while live owners exist).",
    details: "Processes that have the segment mapped keep working on their mapping, but no\n" +
      "reader sees their figures any more, so live owners make rm refuse unless --force.",
    options: RM_OPTIONS,
    maxPositional: 1,
    run: rm,
  },
  {
    name: "gc",
    synopsis: "[name...] [--remove-empty] [--grace ms] [--allow-foreign]",
    summary: "Reclaim dead owners' slots in the named segments, or in all.",
    details: "Frees the slots of processes and threads that died without releasing them.\n" +
      "--remove-empty also removes segments with no live owner older than --grace.",
    options: GC_OPTIONS,
    maxPositional: Infinity,
    run: gc,
  },
];
