/**
 * Racing creators: many processes of both runtimes open one new name at
 * once; and an attacher that finds a header its creator is still writing
 * waits for it instead of calling it corrupt.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { MemoryStatsRegistry, MemstatsError } from "../mod.ts";
import { MAGIC } from "../src/layout.ts";
import { cleanup, HERE, onlyUnder, ROOT, runArgs, uniqueName } from "./helpers.ts";
import { raceRound } from "./fixtures/race.ts";

/** A complete segment's bytes, made by the library itself. */
function template(): Uint8Array {
  const name = uniqueName("tpl");
  MemoryStatsRegistry.open(name, { capacity: 4, fields: ["x", "y"] }).close();
  try {
    return new Uint8Array(readFileSync(`/dev/shm${name}`));
  } finally {
    cleanup(name);
  }
}

// What a creator may have written when an attacher looks: writeHeader stores
// magic, then version, then endian ... and publishes `state` last.
const PARTIAL: Record<string, (t: Uint8Array) => Uint8Array> = {
  "half the magic": (t) => new Uint8Array(t.length).map((_, i) => (i < 4 ? t[i] : 0)),
  "the magic only": (t) => new Uint8Array(t.length).map((_, i) => (i < 8 ? t[i] : 0)),
  "magic and version, no endian marker": (t) => new Uint8Array(t.length).map((_, i) => (i < 12 ? t[i] : 0)),
};

describe("racing creators", () => {
  for (const [what, make] of Object.entries(PARTIAL)) {
    it(`an attacher that sees ${what} waits for the creator, then attaches`, async () => {
      const t = template();
      assert.deepEqual([...t.subarray(0, 8)], [...MAGIC]);
      const name = uniqueName("partial");
      const tplPath = `/tmp/memstats-tpl-${name.slice(1)}`;
      writeFileSync(tplPath, t);
      writeFileSync(`/dev/shm${name}`, make(t), { mode: 0o600 });
      const [cmd, args] = runArgs("bun", `${ROOT}tests/fixtures/finish_header.ts`, [
        `/dev/shm${name}`,
        tplPath,
        "400",
      ]);
      const finisher = spawn(cmd, args, { stdio: "inherit" });
      const done = new Promise((r) => finisher.once("exit", r));
      try {
        // Blocks this thread while it polls; the finisher is another process.
        const r = MemoryStatsRegistry.open(name, { openTimeoutMs: 15_000 });
        assert.equal(r.created, false);
        assert.deepEqual(r.fields, ["x", "y"]);
        assert.equal(r.capacity, 4);
        assert.notEqual(r.register(), null);
        r.close();
      } finally {
        finisher.kill("SIGKILL");
        await done;
        rmSync(tplPath, { force: true });
        cleanup(name);
      }
    });
  }

  it("a header whose creator died mid-way is reported as never finished (TRUNCATED), not as corrupt", () => {
    const t = template();
    for (const [what, make] of Object.entries(PARTIAL)) {
      const name = uniqueName("unfinished");
      writeFileSync(`/dev/shm${name}`, make(t), { mode: 0o600 });
      try {
        assert.throws(() => MemoryStatsRegistry.open(name, { openTimeoutMs: 50 }), (e: unknown) => {
          assert.ok(e instanceof MemstatsError);
          assert.equal(e.code, "TRUNCATED", `${what}: ${e.message}`);
          assert.match(e.message, /never finished/);
          return true;
        });
      } finally {
        cleanup(name);
      }
    }
  });

  it(
    `50 processes (Bun, Deno and Node in turn) open one new name at once: one creator, all attach, no error (${HERE} parent)`,
    {
      skip: onlyUnder("bun"),
    },
    async () => {
      const r = await raceRound(50);
      console.log(`racing creators: ${JSON.stringify(r)}`);
      assert.equal(r.creators, 1);
      assert.equal(r.errors, 0);
    },
  );
});
