/**
 * Racing creators, many rounds (tests/race.test.ts runs one): in each round
 * 50 processes (Bun, Deno and Node in turn) open one new name at the same
 * moment; exactly one must initialise it, all must attach to a complete
 * header, none may fail.
 *
 *     bun scripts/race.ts [--rounds 20] [--processes 50]
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { type RaceResult, raceRound } from "../tests/fixtures/race.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { rounds: { type: "string", default: "20" }, processes: { type: "string", default: "50" } },
});
const rounds = Number(values.rounds);
const n = Number(values.processes);
const results: RaceResult[] = [];
let failures = 0;
for (let i = 0; i < rounds; i++) {
  try {
    const r = await raceRound(n, "race-long");
    results.push(r);
    console.log(`round ${i + 1}/${rounds}: ${JSON.stringify(r)}`);
  } catch (e) {
    failures++;
    console.log(`round ${i + 1}/${rounds} FAILED: ${(e as Error).message}`);
  }
}
const opens = results.reduce((s, r) => s + r.processes, 0);
console.log(
  `${rounds} rounds of ${n} processes: ${results.length} passed, ${failures} failed; ${opens} opens, ` +
    `${results.reduce((s, r) => s + r.creators, 0)} creators, ${
      results.reduce((s, r) => s + r.errors, 0)
    } errors; ` +
    `open() start spread max ${Math.max(...results.map((r) => r.startSpreadMs))} ms`,
);
process.exit(failures === 0 ? 0 : 1);
