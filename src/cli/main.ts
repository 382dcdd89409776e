#!/usr/bin/env bun
/**
 * The `memstats` command: inspect and maintain memstats-shm segments.
 * Runs unchanged under Bun (`bun src/cli/main.ts`), Deno
 * (`deno run -A jsr:@memstats/shm/cli`) and Node 26 or newer (`npx memstats`,
 * the npm package's bin).
 *
 * Exit codes: 0 ok, 1 error (one line naming the problem and the fix),
 * 2 usage error. No input ever ends in a stack trace; set
 * `MEMSTATS_DEBUG=1` to see one for an unexpected failure.
 *
 * @example
 * ```sh
 * deno run -A jsr:@memstats/shm/cli show /memstats-1000
 * deno run -A jsr:@memstats/shm/cli watch /memstats-1000 --sort rss_bytes
 * ```
 *
 * @module
 */
import process from "node:process";
import { CliError, optionHelp, parseArgs, UsageError } from "./args.ts";
import { type Command, COMMANDS } from "./commands.ts";
import { escapeForTerminal } from "../report_text.ts";
import { BrokenPipe, err, out } from "./io.ts";
import { permissionError } from "../ffi/permissions.ts";
import { VERSION } from "./version.ts";

function topHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "memstats: inspect memstats-shm segments (cross-process memory statistics in shared memory)",
    "",
    "Usage: memstats <command> [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    "",
    "Run `memstats <command> --help` for its options; `memstats --version` prints the version.",
    "Exit codes: 0 ok, 1 error, 2 usage error.",
    "",
  ].join("\n");
}

function commandHelp(c: Command): string {
  return [
    `Usage: memstats ${c.name} ${c.synopsis}`,
    "",
    c.summary,
    "",
    c.details,
    "",
    "Options:",
    optionHelp(c.options),
    "",
  ].join("\n");
}

async function dispatch(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--version" || first === "-V") {
    if (rest.length > 0) throw new UsageError("", `${first} takes no arguments`);
    out(`memstats ${VERSION}\n`);
    return 0;
  }
  if (first === undefined || first === "-h" || first === "--help" || first === "help") {
    const topic = first === "help" ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    if (first === undefined) {
      err(topHelp()); // no command is a usage error: help goes to stderr
      return 2;
    }
    out(topic ? commandHelp(topic) : topHelp());
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === first);
  if (!command) {
    throw new UsageError(
      "",
      `unknown command ${JSON.stringify(first)}; commands: ${COMMANDS.map((c) => c.name).join(", ")}`,
    );
  }
  const args = parseArgs(command.name, rest, command.options);
  if (args.help) {
    out(commandHelp(command));
    return 0;
  }
  if (args.positional.length > command.maxPositional) {
    throw new UsageError(
      command.name,
      `unexpected argument ${JSON.stringify(args.positional[command.maxPositional])}`,
    );
  }
  return await command.run(args);
}

/**
 * Run the CLI on `argv` (the arguments after the program name) and return
 * the exit code; errors are printed, never thrown.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const command = COMMANDS.find((c) => c.name === argv[0])?.name;
  const prefix = command ? `memstats ${command}` : "memstats";
  try {
    return await dispatch(argv);
  } catch (caught) {
    const e = permissionError(caught, "running memstats"); // a Deno refusal: one line naming the flag
    try {
      if (e instanceof BrokenPipe) return 0;
      if (e instanceof UsageError) {
        const help = e.command ? `memstats ${e.command} --help` : "memstats --help";
        err(`${prefix}: ${escapeForTerminal(e.message)} (see \`${help}\`)\n`);
        return 2;
      }
      if (e instanceof CliError) {
        err(`${prefix}: ${escapeForTerminal(e.message)}${e.code ? ` [${e.code}]` : ""}\n`);
        return 1;
      }
      const code = (e as { code?: string }).code;
      if (code !== undefined && (e as Error).name === "MemstatsError") {
        err(`${prefix}: ${escapeForTerminal((e as Error).message)} [${code}]\n`);
        return 1;
      }
      const why = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      err(`${prefix}: unexpected failure: ${escapeForTerminal(why)}; set MEMSTATS_DEBUG=1 to see where\n`);
      if (process.env.MEMSTATS_DEBUG) err(`${(e as Error)?.stack ?? ""}\n`);
      return 1;
    } catch {
      return 1; // stderr itself is gone
    }
  }
}

if (import.meta.main) {
  process.exit(await main(process.argv.slice(2)));
}
