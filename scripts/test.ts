/**
 * The whole test suite: every file in tests/ under each runner of
 * {@linkcode RUNNERS}, then one summary line summed over all of them:
 *
 *     N passed, N failed
 *
 * Each runner writes JUnit XML (their own summary lines are not parsed);
 * a runner that crashes without a report counts as one failure, and a
 * runner that cannot run here (a missing tool) reports itself skipped.
 * Usage: `bun scripts/test.ts [--only <runner>] [file filter...]`.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { arm64Unavailable, arm64Wrapper } from "./arm64.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = `${ROOT}.test-results`;

interface Case {
  name: string;
  failed: boolean;
  skipped: boolean;
  message: string;
}

function unescape(s: string): string {
  return s.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#10;/g, "\n")
    .replace(/&apos;/g, "'").replace(/&amp;/g, "&");
}

/** Leaf test cases of a JUnit report; Deno also lists each describe as a case, which we drop. */
export function parseJunit(xml: string, runner: string): Case[] {
  const cases: Case[] = [];
  // Attribute values may hold a raw ">" (Node's reporter escapes only "<" and "&" in them).
  const re = /<testcase\b((?:[^>"]|"[^"]*")*?)(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const attrs = m[1];
    const body = m[3] ?? "";
    const name = unescape(/\bname="([^"]*)"/.exec(attrs)?.[1] ?? "?");
    const cls = unescape(/\bclassname="([^"]*)"/.exec(attrs)?.[1] ?? "");
    const failure = /<(failure|error)\b[^>]*?message="([^"]*)"/.exec(body);
    const nested = runner.startsWith("bun") || runner.startsWith("node"); // the describe is in classname
    const full = nested && cls && !name.includes(" > ") ? `${cls} > ${name}` : name;
    cases.push({
      name: full,
      failed: failure !== null,
      skipped: /<skipped\b/.test(body),
      message: failure ? unescape(failure[2]).split("\n")[0] : "",
    });
  }
  // Deno: "describe > it" steps plus a case per describe that only aggregates them.
  const names = new Set(cases.map((c) => c.name));
  return cases.filter((c) => ![...names].some((n) => n.startsWith(c.name + " > ")));
}

/** One way of running the suite: a test runner, its arguments, and whether it can run here. */
interface Runner {
  /** Name in the summary and for `--only`. */
  readonly name: string;
  /** Why it cannot run on this machine, or undefined when it can. */
  readonly unavailable?: () => string | undefined;
  /** The command running `files` and writing a JUnit report to `report`. */
  readonly command: (files: string[], report: string) => [string, string[], Record<string, string>?];
  /** The files it runs, of those asked for; all of them when absent. */
  readonly files?: (files: string[]) => string[];
}

const BIN = (name: string) => `${ROOT}node_modules/.bin/${name}`;

/**
 * The core tests the arm64 runners run: claims and slot handles, read-only
 * readers, reclaim, Workers, fuzzing (the header checks). The whole suite
 * under emulation would not fit CI's budget (an emulated Deno takes seconds
 * to start, a Deno Worker too). tests/arm64.test.ts, run by the native
 * runners, pairs x86-64 with arm64 processes.
 */
const ARM64_FILES = ["fuzz", "readonly", "reclaim", "slot", "workers"].map((f) => `tests/${f}.test.ts`);

/** The arm64 build of a runtime under qemu-user (scripts/arm64.ts); its children are emulated too. */
function arm64Runner(rt: "bun" | "deno"): Runner {
  return {
    name: `${rt}-arm64`,
    unavailable: () => arm64Unavailable(rt),
    files: (files) => files.filter((f) => ARM64_FILES.includes(f)),
    command: (files, report) => {
      const [, args, env] = RUNNERS.find((r) => r.name === rt)!.command(files, report);
      return [arm64Wrapper(rt), args, env];
    },
  };
}

/** Every runner, in order. */
const RUNNERS: readonly Runner[] = [
  {
    name: "deno",
    command: (
      files,
      report,
    ) => [BIN("deno"), ["test", "-A", "--no-check", `--junit-path=${report}`, ...files]],
  },
  {
    name: "bun",
    command: (files, report) => [
      BIN("bun"),
      ["test", "--timeout=300000", "--reporter=junit", `--reporter-outfile=${report}`, ...files],
    ],
  },
  {
    name: "node",
    unavailable:
      () => (existsSync(BIN("node")) ? undefined : "node_modules/.bin/node is missing: run npm install"),
    command: (files, report) => [BIN("node"), [
      "--test",
      // Every file in one process, one at a time, as `bun test` does: a process per file would
      // start Node and strip the types of the whole library again for each of them.
      "--test-isolation=none",
      "--test-reporter=spec",
      "--test-reporter-destination=stdout",
      "--test-reporter=junit",
      `--test-reporter-destination=${report}`,
      ...files,
    ]],
  },
  arm64Runner("bun"),
  arm64Runner("deno"),
];

function run(runner: Runner, all: string[]): Case[] {
  const report = `${OUT}/${runner.name}.xml`;
  rmSync(report, { force: true });
  const files = runner.files ? runner.files(all) : all;
  if (files.length === 0) {
    console.log(`\n=== ${runner.name}: none of these files is one it runs`);
    return [];
  }
  const why = runner.unavailable?.();
  if (why !== undefined) {
    console.log(`\n=== ${runner.name}: skipped (${why})`);
    return [{ name: `${runner.name} runner`, failed: false, skipped: true, message: why }];
  }
  const [bin, args, env] = runner.command(files, report);
  console.log(`\n=== ${runner.name}: ${bin} ${args.join(" ")}`);
  const r = spawnSync(bin, args, {
    cwd: ROOT,
    stdio: "inherit",
    env: { ...process.env, ...env },
    timeout: 20 * 60_000,
  });
  if (!existsSync(report)) {
    return [{
      name: `${runner.name} runner`,
      failed: true,
      skipped: false,
      message: `no report (exit ${r.status})`,
    }];
  }
  const cases = parseJunit(readFileSync(report, "utf8"), runner.name);
  if (r.status !== 0 && !cases.some((c) => c.failed)) {
    cases.push({
      name: `${runner.name} runner`,
      failed: true,
      skipped: false,
      message: `exit status ${r.status}`,
    });
  }
  return cases;
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  const only = argv[0] === "--only" ? argv[1] : undefined;
  const filters = argv.slice(only ? 2 : 0);
  mkdirSync(OUT, { recursive: true });
  const files = readdirSync(`${ROOT}tests`)
    .filter((f) => f.endsWith(".test.ts"))
    .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
    .sort()
    .map((f) => `tests/${f}`);
  const results: Record<string, Case[]> = {};
  for (const runner of RUNNERS) {
    if (!only || only === runner.name) results[runner.name] = run(runner, files);
  }
  let passed = 0;
  let failed = 0;
  console.log("\n=== summary");
  for (const [runner, cases] of Object.entries(results)) {
    const f = cases.filter((c) => c.failed);
    const s = cases.filter((c) => c.skipped && !c.failed);
    const p = cases.length - f.length - s.length;
    passed += p;
    failed += f.length;
    console.log(`${runner}: ${p} passed, ${f.length} failed, ${s.length} skipped`);
    for (const c of s) console.log(`  skipped: ${c.name}${c.message ? ` (${c.message})` : ""}`);
    for (const c of f) console.log(`  FAILED: ${c.name}: ${c.message}`);
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}
