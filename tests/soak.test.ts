/**
 * Soak, short version (scripts/soak.ts runs for minutes): 16 writer
 * processes (Bun, Deno and Node in turn) update at full speed while a
 * reader of each runtime reads the whole table without pause. Every snapshot is checked
 * against the writers' pattern: no torn snapshot, no error, ever.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { onlyUnder, RUNTIMES } from "./helpers.ts";
import { runSoak } from "./fixtures/soak.ts";

describe("soak", () => {
  it("16 writers (Bun, Deno and Node) at full speed, a reader per runtime, 3 s: no torn snapshot, no error", {
    skip: onlyUnder("node"),
  }, async () => {
    const r = await runSoak({ seconds: 3, writers: 16 });
    console.log(`soak: ${JSON.stringify(r)}`);
    assert.deepEqual(r.problems, []);
    assert.equal(r.torn, 0);
    assert.equal(r.errors, 0);
    assert.equal(r.readers.length, RUNTIMES.length);
    assert.ok(r.updates > 0 && r.snapshots > 0, "both sides made progress");
    assert.equal(r.leftOver, 0, "every writer's slot released at its exit");
  });
});
