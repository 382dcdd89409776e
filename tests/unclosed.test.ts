/**
 * A registry dropped without `close()` gives its mapping back once the
 * garbage collector finds it unreachable: 10,000 leaked registries must not
 * exhaust `vm.max_map_count` (65,530). A registry that still holds a slot is
 * never collected: a claimed slot belongs to its thread until it is released,
 * its registry closed, or the thread ends, whether or not the program still
 * holds the handle.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { MemoryStatsRegistry } from "../mod.ts";
import { CHILD_RUNTIMES, cleanup, ROOT, runtimeBin, uniqueName } from "./helpers.ts";

describe("registries dropped without close()", () => {
  for (const rt of CHILD_RUNTIMES) {
    for (const mode of ["read", "write"] as const) {
      it(`${rt}: 10,000 dropped ${mode === "read" ? "readers" : "writers on 16 slots"} leave (almost) no mapping behind${mode === "write" ? "; the 16 that hold a slot keep it" : ""}`, () => {
        const name = uniqueName(`drop-${rt}-${mode}`);
        const keep = MemoryStatsRegistry.open(name, { capacity: 16 });
        try {
          const file = `${ROOT}tests/fixtures/leak.ts`;
          // The collector exposed: Bun has Bun.gc; Deno and Node take V8's flag.
          const argv = {
            bun: [file],
            deno: ["run", "-A", "--v8-flags=--expose-gc", file],
            node: ["--expose-gc", file],
          }[rt];
          const r = spawnSync(runtimeBin(rt), [...argv, name, "10000", mode], {
            encoding: "utf8",
            timeout: 300_000,
          });
          assert.equal(r.status, 0, r.stderr);
          const { mappings, held } = JSON.parse(r.stdout);
          // A conservative collector may keep a handful reachable from the stack; never thousands.
          assert.ok(mappings < 100 + 16, `${mappings} of 10,000 mappings left`);
          // The table has 16 slots: the writers holding them keep them (and their mappings) until exit.
          if (mode === "write") assert.equal(held, 16, "a dropped registry's claimed slot stays claimed");
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
