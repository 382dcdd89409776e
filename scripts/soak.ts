/**
 * The long soak (tests/soak.test.ts runs 3 seconds): 16 writer processes
 * (Bun, Deno and Node in turn) write patterned values at full speed while a
 * reader of each runtime reads the whole table without pause and checks every
 * snapshot.
 *
 *     bun scripts/soak.ts [--minutes 5] [--writers 16]
 *
 * Prints updates, snapshots, torn snapshots, errors and the readers'
 * resident memory at start and end; exits 1 on any torn snapshot or error.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { runSoak } from "../tests/fixtures/soak.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { minutes: { type: "string", default: "5" }, writers: { type: "string", default: "16" } },
});
const seconds = Math.round(Number(values.minutes) * 60);
console.log(`soak: ${values.writers} writers, a reader per runtime, ${seconds} s`);
const r = await runSoak({ seconds, writers: Number(values.writers), log: (l) => console.log(`  ${l}`) });
console.log(JSON.stringify(r, null, 2));
console.log(
  `${r.updates} updates, ${r.tableReads} table reads, ${r.snapshots} slot snapshots, ${r.torn} torn, ${r.errors} errors; ` +
    `slots visible per read ${(100 * r.visible).toFixed(1)}%; reader RSS ` +
    r.readers.map((x) => `${x.runtime} ${x.rssStartMB} -> ${x.rssEndMB} MB`).join(", "),
);
process.exit(r.torn === 0 && r.errors === 0 && r.problems.length === 0 && r.leftOver === 0 ? 0 : 1);
