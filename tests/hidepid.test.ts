/**
 * "Cannot see" is not "dead". With /proc mounted `hidepid=2` (systemd's
 * `ProtectProc=invisible`), another user's processes are hidden: opening
 * `/proc/<pid>/task/<tid>/stat` fails with ENOENT. A reader or reclaimer
 * running as that other user must not take a hidden live owner for dead:
 * it asks the kernel (tgkill(pid, tid, 0): EPERM means alive) and counts
 * the owner dead only on ESRCH. Run in a private mount namespace as user
 * nobody; skipped by name where that is not possible.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { MemoryStatsRegistry } from "../mod.ts";
import { Child, CHILD_RUNTIMES, cleanup, uniqueName } from "./helpers.ts";
import { asNobody, nobodyProblem, removeNobodyStage } from "./fixtures/nobody.ts";

function hidepidProblem(): string | undefined {
  const why = nobodyProblem();
  if (why) return why;
  const r = spawnSync("unshare", ["-m", "sh", "-c", "mount -t proc -o hidepid=2 proc /proc"], {
    encoding: "utf8",
  });
  return r.status === 0
    ? undefined
    : `cannot mount /proc with hidepid=2 in a private namespace (${r.stderr.trim()})`;
}

const SKIP = hidepidProblem();

describe("hidepid=2", () => {
  after(removeNobodyStage);

  for (const rt of CHILD_RUNTIMES) {
    it(
      `${rt} as another user under hidepid=2: a hidden live owner is alive (never reclaimed, never left out); once killed it is dead`,
      {
        skip: SKIP,
      },
      async () => {
        const name = uniqueName(`hidepid-${rt}`);
        const owner = new Child(rt);
        try {
          await owner.send({ op: "open", name, options: { capacity: 2, mode: 0o666 } });
          const { slot } = await owner.send<{ slot: number }>({ op: "register", name, label: "root-writer" });
          await owner.send({ op: "set", slot, value: 7 });
          const seen = asNobody(rt, name, { allowForeignOwner: true }, "reclaim", "", { hidepid: true });
          assert.equal(seen.ok, true, JSON.stringify(seen));
          assert.deepEqual(
            [seen.reclaimed, seen.census, seen.active, seen.dead, seen.total],
            [0, { live: 1, dead: 0 }, 1, 0, 7],
            "the hidden owner is alive to a reclaimer and a reader",
          );
          await owner.send({ op: "set", slot, value: 8 });
          using mine = MemoryStatsRegistry.open(name, { readOnly: true });
          assert.equal(
            mine.slotStats(slot)?.arenaBytes,
            8,
            "the owner still holds its slot and writes to it",
          );
          await owner.kill("SIGKILL");
          const after = asNobody(rt, name, { allowForeignOwner: true }, "reclaim", "", { hidepid: true });
          assert.deepEqual(
            [after.reclaimed, after.active],
            [1, 0],
            "a dead owner is still found dead (ESRCH)",
          );
        } finally {
          await owner.kill();
          cleanup(name);
        }
      },
    );
  }
});
