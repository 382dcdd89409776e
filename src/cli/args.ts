/**
 * A small command-line parser: `--name value`, `--name=value`, boolean
 * flags, `-h`, and `--` to end options. Anything it does not recognise is a
 * {@linkcode UsageError} (exit code 2), never a guess.
 *
 * @module
 */

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  /** The command whose usage was wrong ("" for the top level). */
  readonly command: string;
  constructor(command: string, message: string) {
    super(message);
    this.name = "UsageError";
    this.command = command;
  }
}

/** A failure the command can explain in one line: exit code 1. */
export class CliError extends Error {
  /** A `MemstatsError` code when the core reported it. */
  readonly code?: string;
  constructor(message: string, code?: string) {
    super(message);
    this.name = "CliError";
    if (code !== undefined) this.code = code;
  }
}

/** One option a command accepts. */
export interface OptionSpec {
  /** Long name, without dashes. */
  readonly name: string;
  /** `boolean` flags take no value; `integer` values must be whole numbers >= `min`. */
  readonly type: "boolean" | "string" | "integer";
  /** Placeholder shown in help, e.g. `ms`. */
  readonly value?: string;
  /** One line of help. */
  readonly help: string;
  /** Smallest accepted integer (default 0). */
  readonly min?: number;
}

/** Parsed arguments: positionals plus option values by long name. */
export interface Parsed {
  /** Arguments that are not options. */
  readonly positional: string[];
  /** Option values; booleans are `true` when given. */
  readonly options: Record<string, string | number | boolean | undefined>;
  /** Whether `--help` or `-h` was given. */
  readonly help: boolean;
}

/** Parse `argv` against `specs`; throws {@linkcode UsageError}. */
export function parseArgs(command: string, argv: readonly string[], specs: readonly OptionSpec[]): Parsed {
  const positional: string[] = [];
  const options: Record<string, string | number | boolean | undefined> = {};
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a === "-h" || a === "--help") {
      help = true;
      continue;
    }
    if (!a.startsWith("-") || a === "-") {
      positional.push(a);
      continue;
    }
    if (!a.startsWith("--")) throw new UsageError(command, `unknown option ${a}`);
    const eq = a.indexOf("=");
    const name = a.slice(2, eq === -1 ? undefined : eq);
    const spec = specs.find((s) => s.name === name);
    if (!spec) throw new UsageError(command, `unknown option --${name}`);
    if (spec.type === "boolean") {
      if (eq !== -1) throw new UsageError(command, `--${name} takes no value`);
      options[name] = true;
      continue;
    }
    let raw: string;
    if (eq !== -1) raw = a.slice(eq + 1);
    else if (i + 1 < argv.length) raw = argv[++i];
    else throw new UsageError(command, `--${name} needs a value (${spec.value ?? "value"})`);
    if (spec.type === "integer") {
      const min = spec.min ?? 0;
      if (!/^\d+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
        throw new UsageError(
          command,
          `--${name} must be a whole number >= ${min}, got ${JSON.stringify(raw)}`,
        );
      }
      options[name] = Number(raw);
    } else {
      options[name] = raw;
    }
  }
  return { positional, options, help };
}

/** Help text for a list of options, one aligned line each. */
export function optionHelp(specs: readonly OptionSpec[]): string {
  const left = specs.map((s) => `--${s.name}${s.type === "boolean" ? "" : ` <${s.value ?? "value"}>`}`);
  const w = Math.max(...left.map((l) => l.length), "-h, --help".length);
  const lines = specs.map((s, i) => `  ${left[i].padEnd(w)}  ${s.help}`);
  lines.push(`  ${"-h, --help".padEnd(w)}  Show this help.`);
  return lines.join("\n");
}
