/**
 * The long fault-injection run (tests/fault.test.ts runs a short one):
 * 1,000 SIGKILLs by default, half on a tight table (writers want more slots
 * than there are, so register() reclaims dead owners' slots itself) and half
 * on a roomy one (only the frozen checks reclaim, so counters are exact).
 *
 *     bun scripts/fault.ts [--kills 1000] [--batch 20] [--writers 6] [--seed N]
 *
 * Prints progress, then the figures as JSON; exits 1 on any violation.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { type FaultResult, runFault } from "../tests/fixtures/fault.ts";
import { seedFromEnv } from "../tests/fixtures/lines.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    kills: { type: "string", default: "1000" },
    batch: { type: "string", default: "20" },
    writers: { type: "string", default: "6" },
    seed: { type: "string" },
  },
});
const kills = Number(values.kills);
const writers = Number(values.writers);
const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : seedFromEnv();
const maxHeld = 2;
const started = Date.now();
console.log(`fault injection: ${kills} kills, ${writers} writers (Bun, Deno and Node), seed ${seed}`);
const runs: { mode: string; result: FaultResult }[] = [];
for (
  const [mode, capacity, share] of [["tight", writers * maxHeld - 3, Math.ceil(kills / 2)], [
    "roomy",
    64,
    Math.floor(kills / 2),
  ]] as const
) {
  const result = await runFault({
    seed: (seed + runs.length) >>> 0,
    kills: share,
    batch: Number(values.batch),
    writers,
    capacity,
    maxHeld,
    log: (l) => console.log(`  ${mode}: ${l}`),
  });
  runs.push({ mode, result });
}
const sum = (f: (r: FaultResult) => number) => runs.reduce((s, r) => s + f(r.result), 0);
const summary = {
  seed,
  kills: sum((r) => r.kills),
  checks: sum((r) => r.checks),
  deadSlotsFound: {
    active: sum((r) => r.deadSlots.active),
    claiming: sum((r) => r.deadSlots.claiming),
    midUpdate: sum((r) => r.deadSlots.midUpdate),
  },
  frozenLive: {
    claiming: sum((r) => r.frozenLive.claiming),
    midUpdate: sum((r) => r.frozenLive.midUpdate),
  },
  reclaimedByChecks: sum((r) => r.reclaimedByChecks),
  reclaimedTotal: sum((r) => r.reclaimedTotal),
  ownerIds: sum((r) => r.ownerIds),
  overflowCount: sum((r) => r.overflowCount),
  liveSlotsPreserved: sum((r) => r.livePreserved),
  readerReads: sum((r) => r.readers.reduce((s, x) => s + x.reads, 0)),
  readerSnapshots: sum((r) => r.readers.reduce((s, x) => s + x.snapshots, 0)),
  readerTornOrErrors: sum((r) => r.readers.reduce((s, x) => s + x.torn + x.errors, 0)),
  violations: runs.flatMap((r) => r.result.violations.map((v) => `${r.mode}: ${v}`)),
  seconds: Math.round((Date.now() - started) / 1000),
};
console.log(JSON.stringify({ summary, runs }, null, 2));
console.log(
  `${summary.kills} kills survived, ${summary.checks} frozen checks, ${summary.violations.length} violations (seed ${seed})`,
);
process.exit(summary.violations.length === 0 ? 0 : 1);
