/**
 * Fault injection, short version (scripts/fault.ts runs 1,000 kills):
 * writers of every runtime SIGKILLed at seeded random moments while they
 * claim, update and release; frozen checks after every batch (see
 * tests/fixtures/fault.ts for the invariants). Reproduce a failure with
 * MEMSTATS_SEED=<seed printed below>.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { HERE, onlyUnder, RUNTIMES } from "./helpers.ts";
import { runFault } from "./fixtures/fault.ts";
import { seedFromEnv } from "./fixtures/lines.ts";

describe("fault injection", () => {
  // Each table under one runner: the writers are of every runtime whoever checks.
  for (const [mode, capacity, runner] of [["tight", 5, "deno"], ["roomy", 32, "node"]] as const) {
    it(
      `${mode} table (capacity ${capacity}): 20 SIGKILLs of Bun, Deno and Node writers, invariants hold after every batch (${HERE} checks)`,
      {
        skip: onlyUnder(runner),
      },
      async () => {
        const seed = seedFromEnv();
        const r = await runFault({ seed, kills: 20, batch: 5, writers: 4, capacity, maxHeld: 2 });
        const figures = {
          ...r,
          readers: r.readers.map((x) => `${x.runtime}: ${x.reads} reads, ${x.torn} torn, ${x.errors} errors`),
        };
        console.log(`fault ${mode}: ${JSON.stringify(figures)}`);
        assert.deepEqual(r.violations, [], `seed ${seed}`);
        assert.equal(r.kills, 20);
        assert.equal(r.checks, 5);
        assert.ok(r.reclaimedTotal > 0, `seed ${seed}: dead owners' slots were reclaimed`);
        assert.equal(r.readers.length, RUNTIMES.length);
        for (const x of r.readers) {
          assert.ok(x.reads > 0 && x.torn === 0 && x.errors === 0, `seed ${seed}: ${JSON.stringify(x)}`);
        }
        if (mode === "roomy") {
          assert.equal(r.overflowCount, 0, "nobody was refused");
          assert.equal(
            r.reclaimedTotal,
            r.reclaimedByChecks,
            "only the checks reclaimed: the counter is exact",
          );
        }
      },
    );
  }
});
