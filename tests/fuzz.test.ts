/**
 * Fuzzing, short version (scripts/fuzz.ts runs 10,000 cases per runtime):
 * seeded bad segments (tests/fixtures/fuzz_cases.ts) attached read-only and
 * read-write, read, and shown with `memstats show` in a reader child of
 * each runtime. Every case must end in a valid read that matches the
 * independent reader, or in the MemstatsError code FORMAT.md's validation
 * steps predict; nothing may stay mapped, no mapping may reach past the
 * file, and no child may crash. Reproduce with MEMSTATS_SEED=<seed>.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { CHILD_RUNTIMES, EMULATED, emulatedSkip, ROOT } from "./helpers.ts";
import { runFuzz } from "./fixtures/fuzz.ts";
import { seedFromEnv } from "./fixtures/lines.ts";

// Under emulation each arm64 runner fuzzes its own runtime's reader, with fewer cases (still enough
// for every asserted outcome: the rarest, VERSION, comes up in about 1 case in 19).
const CASES = EMULATED ? 80 : 300;

describe("fuzzing", () => {
  for (const rt of CHILD_RUNTIMES) {
    it(`${CASES} bad segments read by a ${rt} child: a valid read or the right code, never a crash`, {
      skip: emulatedSkip(rt),
    }, async () => {
      const seed = seedFromEnv();
      const r = await runFuzz(rt, seed, CASES);
      console.log(`fuzz ${rt}: seed ${seed}, outcomes ${JSON.stringify(r.outcomes)}, show ran ${r.show.ran}`);
      assert.deepEqual(r.crashes, [], `seed ${seed}: a reader crashed`);
      assert.deepEqual(r.problems, [], `seed ${seed}`);
      assert.equal(r.cases, CASES);
      for (const code of ["OK", "TRUNCATED", "BAD_MAGIC", "VERSION", "SCHEMA"]) {
        assert.ok((r.outcomes[code] ?? 0) > 0, `seed ${seed}: no case ended in ${code}`);
      }
      if (existsSync(`${ROOT}src/cli/main.ts`)) {
        assert.equal(r.show.missing, undefined, "the CLI is there but does not load");
        assert.ok(r.show.ran > CASES / 2, "memstats show ran on the cases");
      }
    });
  }
});
