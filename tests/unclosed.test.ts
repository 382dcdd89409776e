/**
 * A registry dropped without `close()` gives its mapping back once the
 * garbage collector finds it unreachable (and the slots it still held, which
 * nobody can write any more): 10,000 leaked registries must not exhaust
 * `vm.max_map_count` (65,530) or the table.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { MemoryStatsRegistry } from "../mod.ts";
import { cleanup, ROOT, runtimeBin, RUNTIMES, uniqueName } from "./helpers.ts";

describe("registries dropped without close()", () => {
  for (const rt of RUNTIMES) {
    for (const mode of ["read", "write"] as const) {
      it(`${rt}: 10,000 dropped ${mode === "read" ? "readers" : "writers with a slot each"} leave (almost) no mapping and no slot behind`, () => {
        const name = uniqueName(`drop-${rt}-${mode}`);
        const keep = MemoryStatsRegistry.open(name, { capacity: 16 });
        try {
          const file = `${ROOT}tests/fixtures/leak.ts`;
          const r = rt === "bun"
            ? spawnSync(runtimeBin("bun"), [file, name, "10000", mode], {
              encoding: "utf8",
              timeout: 300_000,
            })
            : spawnSync(runtimeBin("deno"), [
              "run",
              "-A",
              "--v8-flags=--expose-gc",
              file,
              name,
              "10000",
              mode,
            ], {
              encoding: "utf8",
              timeout: 300_000,
            });
          assert.equal(r.status, 0, r.stderr);
          const { mappings, held } = JSON.parse(r.stdout);
          // A conservative collector may keep a handful reachable from the stack; never thousands.
          assert.ok(mappings < 100, `${mappings} of 10,000 mappings left`);
          // The table has 16 slots: the dropped writers' slots came back as they were collected.
          if (mode === "write") assert.ok(held < 16, `${held} of 16 slots still held by dropped writers`);
          assert.equal(
            keep.aggregateStats().activeThreads,
            0,
            "the process has exited: nothing left claimed",
          );
        } finally {
          keep.close();
          cleanup(name);
        }
      });
    }
  }
});
