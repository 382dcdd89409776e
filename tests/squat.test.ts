/**
 * The default segment name `/memstats-<uid>` squatted by another user: it
 * creates the name first, so the victim cannot use it and, /dev/shm being
 * sticky, cannot remove it. The victim (user nobody, via runuser) gets an
 * error naming the squatter's uid and the way out, from the library and the
 * CLI alike, and the way out (MEMSTATS_SEGMENT) works.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { CHILD_RUNTIMES, cleanup } from "./helpers.ts";
import { NOBODY, nobodyProblem as asNobodyProblem, runAsNobody } from "./fixtures/nobody.ts";

const SKIP = asNobodyProblem();

function answer(r: { status: number | null; stdout: string; stderr: string }) {
  const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
  assert.ok(line, `no answer: status ${r.status}; ${r.stdout} ${r.stderr}`);
  return JSON.parse(line);
}

describe("the default segment squatted by another user", () => {
  for (const rt of CHILD_RUNTIMES) {
    it(
      `${rt}: getOrRegisterSlot() and memstats name the squatter's uid and how to choose a name of one's own; MEMSTATS_SEGMENT works`,
      {
        skip: SKIP ?? false,
      },
      () => {
        const victimDefault = `/memstats-${NOBODY}`;
        const own = `/memstats-${NOBODY}-app-${process.pid}`;
        cleanup(victimDefault, own);
        try {
          for (const mode of [0o600, 0o644]) {
            // Root (this process) squats nobody's default name, private or readable by all.
            const squat = MemoryStatsRegistry.open(victimDefault, { mode, capacity: 2 });
            try {
              const msg = answer(runAsNobody(rt, "tests/fixtures/default_slot.ts"));
              assert.equal(msg.ok, false, `mode ${mode.toString(8)}: ${JSON.stringify(msg)}`);
              assert.equal(msg.mstats, true);
              assert.equal(msg.code, "EACCES");
              assert.match(
                msg.message,
                /^the default segment \/memstats-65534, which belongs to uid 0, not to you \(uid 65534\): another user created it first/,
              );
              assert.match(msg.message, /set MEMSTATS_SEGMENT=\/memstats-65534-<app>/);
              assert.match(msg.message, /ask uid 0 or root to remove \/dev\/shm\/memstats-65534$/);
              const show = runAsNobody(rt, "src/cli/main.ts", ["show"]);
              assert.equal(show.status, 1, show.stderr);
              assert.match(
                show.stderr,
                /^memstats show: the default segment \/memstats-65534, which belongs to uid 0, not to you .*MEMSTATS_SEGMENT=.*\[EACCES\]\n$/,
              );
            } finally {
              squat.close();
            }
          }
          const ok = answer(
            runAsNobody(rt, "tests/fixtures/default_slot.ts", [], { env: { MEMSTATS_SEGMENT: own } }),
          );
          assert.deepEqual(ok, { ok: true, uid: NOBODY, segment: own, slot: 0 });
        } finally {
          cleanup(victimDefault, own);
        }
      },
    );
  }
});
