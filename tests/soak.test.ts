/**
 * Soak, short version (scripts/soak.ts runs for minutes): 16 writer
 * processes (8 Bun, 8 Deno) update at full speed while a Bun and a Deno
 * reader read the whole table without pause. Every snapshot is checked
 * against the writers' pattern: no torn snapshot, no error, ever.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { runSoak } from "./fixtures/soak.ts";

describe("soak", () => {
  it("16 writers (Bun and Deno) at full speed, 2 readers, 3 s: no torn snapshot, no error", async () => {
    const r = await runSoak({ seconds: 3, writers: 16 });
    console.log(`soak: ${JSON.stringify(r)}`);
    assert.deepEqual(r.problems, []);
    assert.equal(r.torn, 0);
    assert.equal(r.errors, 0);
    assert.equal(r.readers.length, 2);
    assert.ok(r.updates > 0 && r.snapshots > 0, "both sides made progress");
    assert.equal(r.leftOver, 0, "every writer's slot released at its exit");
  });
});
