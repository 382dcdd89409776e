/**
 * The long fuzzing run (tests/fuzz.test.ts runs a few hundred cases):
 * 10,000 bad segments per runtime by default, each attached read-only and
 * read-write, read, and shown with `memstats show` in a reader child.
 *
 *     bun scripts/fuzz.ts [--cases 10000] [--seed N] [--only bun|deno|node]
 *
 * Prints the outcomes by code, problems and crashes; exits 1 on any problem
 * or crash. A case is fully determined by (seed, index): to replay case i,
 * run tests/fixtures/fuzz_child.ts <seed> <i> <i+1> <stderr file> 1.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { RUNTIMES } from "../tests/helpers.ts";
import { type FuzzResult, runFuzz } from "../tests/fixtures/fuzz.ts";
import { seedFromEnv } from "../tests/fixtures/lines.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    cases: { type: "string", default: "10000" },
    seed: { type: "string" },
    only: { type: "string" },
  },
});
const cases = Number(values.cases);
const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : seedFromEnv();
const started = Date.now();
console.log(`fuzzing: ${cases} cases per runtime, seed ${seed}`);
const results: FuzzResult[] = [];
for (const rt of RUNTIMES.filter((r) => !values.only || r === values.only)) {
  results.push(await runFuzz(rt, seed, cases, { log: (l) => console.log(`  ${l}`) }));
}
for (const r of results) {
  console.log(
    `\n${r.runtime}: ${r.cases} cases, show ran on ${r.show.ran}${
      r.show.missing ? ` (missing: ${r.show.missing})` : ""
    }`,
  );
  console.log(`  outcomes: ${JSON.stringify(r.outcomes)}`);
  console.log(`  cases with problems: ${r.problemCases}; crashes: ${r.crashes.length}`);
  for (const p of r.problems.slice(0, 10)) {
    console.log(`  problem case ${p.case} (${p.kind}): ${p.problems.join("; ")}`);
  }
  for (const c of r.crashes.slice(0, 10)) console.log(`  crash at case ${c.case}: ${c.exit}\n${c.stderr}`);
}
const bad = results.reduce((s, r) => s + r.problemCases + r.crashes.length, 0);
console.log(
  `\n${results.reduce((s, r) => s + r.cases, 0)} cases, ${bad} problems or crashes, seed ${seed}, ${
    Math.round((Date.now() - started) / 1000)
  } s`,
);
process.exit(bad === 0 ? 0 : 1);
