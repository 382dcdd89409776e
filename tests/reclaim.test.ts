/**
 * Reclaim without hooks: slots of owners that died by SIGKILL (reaped or
 * zombie), of claims interrupted mid-way, and of pids now reused by another
 * process come back; a live owner's slot never does.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, readlinkSync, writeSync } from "node:fs";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { geometry, S, slotOffset } from "../src/layout.ts";
import { claimWord } from "../src/liveness.ts";
import {
  Child,
  CHILD_RUNTIMES,
  cleanup,
  ROOT,
  runArgs,
  type Runtime,
  uniqueName,
  waitFor,
} from "./helpers.ts";

/** Field 22 of /proc/<pid>/stat: the process start time in ticks. */
function startTime(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
}

/** Inode of our pid namespace, from the link /proc/self/ns/pid -> "pid:[4026531836]". */
function pidNamespace(): number {
  return Number(/\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))![1]);
}

/** Overwrite bytes of a segment through its file, as another process could. */
function poke(name: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(`/dev/shm${name}`, "r+");
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}
function u64le(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
}

describe("reclaim", () => {
  for (const rt of CHILD_RUNTIMES) {
    it(`${rt}: a live child's slot is never reclaimed; after SIGKILL the next register() gets it`, async () => {
      const name = uniqueName(`kill-${rt}`);
      const reg = MemoryStatsRegistry.open(name, { capacity: 2 });
      const child = new Child(rt);
      try {
        assert.notEqual(reg.register({ label: "parent" }), null);
        await child.send({ op: "open", name });
        const { slot } = await child.send<{ slot: number }>({ op: "register", name, label: "victim" });
        await child.send({ op: "set", slot, value: 777 });
        // Full of live owners: nothing to take.
        assert.equal(reg.register(), null);
        assert.equal(reg.reclaim(), 0);
        assert.deepEqual(reg.ownerCensus(), { live: 2, dead: 0 });
        assert.equal(reg.slotStats(slot)?.arenaBytes, 777);
        await child.kill("SIGKILL");
        assert.deepEqual(reg.ownerCensus(), { live: 1, dead: 1 });
        assert.equal(reg.register({ label: "heir" }), slot);
        assert.equal(reg.reclaimedCount, 1);
        assert.equal(reg.overflowCount, 1);
        assert.equal(reg.slotStats(slot)?.label, "heir");
        assert.equal(reg.slotStats(slot)?.arenaBytes, 0, "the heir starts from zero");
      } finally {
        await child.kill();
        reg.close();
        cleanup(name);
      }
    });
  }

  it("a killed owner that nobody has reaped yet (a zombie) counts as dead", async () => {
    const name = uniqueName("zombie");
    const reg = MemoryStatsRegistry.open(name, { capacity: 1 });
    // `exec sleep` replaces the shell, so the writer's parent is `sleep`, which never reaps it.
    const [cmd, args] = runArgs("bun", `${ROOT}tests/fixtures/hold.ts`, [name]);
    const sh = spawn("sh", ["-c", `${cmd} ${args.join(" ")} & echo $!; exec sleep 30`], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      const pid = await new Promise<number>((resolve) =>
        sh.stdout!.once("data", (d) => resolve(Number(String(d).trim())))
      );
      await waitFor(() => reg.aggregateStats().activeThreads === 1, 20_000, "the writer to register");
      process.kill(pid, "SIGKILL");
      await waitFor(
        () => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].startsWith("Z"),
        5000,
        "zombie",
      );
      assert.equal(reg.reclaim(), 1);
      assert.notEqual(reg.register(), null);
    } finally {
      sh.kill("SIGKILL");
      reg.close();
      cleanup(name);
    }
  });

  it("pid reuse: a slot naming a live unrelated process with another start time is reclaimed; with the right one it is not", async () => {
    const name = uniqueName("reuse");
    const reg = MemoryStatsRegistry.open(name, { capacity: 2 });
    const g = geometry(2, 1);
    const sleeper = spawn("sleep", ["30"]);
    try {
      await waitFor(() => {
        try {
          return startTime(sleeper.pid!) > 0;
        } catch {
          return false;
        }
      });
      const victim = reg.registerSlot()!;
      const off = slotOffset(g, victim.index);
      // Make the slot name the sleeping process: same pid and tid, as a recycled pid would.
      poke(name, off + S.pid, u32le(sleeper.pid!));
      poke(name, off + S.tid, u32le(sleeper.pid!));
      poke(name, off + S.token, u64le(BigInt(startTime(sleeper.pid!))));
      assert.equal(reg.reclaim(), 0, "matching evidence: a live owner");
      poke(name, off + S.token, u64le(BigInt(startTime(sleeper.pid!) - 1)));
      assert.equal(reg.reclaim(), 1, "pid alive but started at another time: a different process");
      assert.equal(reg.aggregateStats().activeThreads, 0);
    } finally {
      sleeper.kill();
      reg.close();
      cleanup(name);
    }
  });

  it("a claim interrupted mid-way is reclaimed once its claimer is dead, never while it lives", async () => {
    const name = uniqueName("claim");
    const reg = MemoryStatsRegistry.open(name, { capacity: 1 });
    const g = geometry(1, 1);
    const ns = pidNamespace();
    const child = new Child("bun" as Runtime);
    try {
      await child.send({ op: "open", name, options: { readOnly: true } });
      const pid = child.pid;
      const word = claimWord({ pid, tid: pid, token: startTime(pid), pidNamespace: ns });
      poke(name, slotOffset(g, 0) + S.owner, u64le(word));
      assert.equal(reg.aggregateStats().activeThreads, 0, "a claiming slot is not active");
      assert.equal(reg.register(), null, "nor free");
      assert.equal(reg.reclaim(), 0);
      await child.kill("SIGKILL");
      // register() just found the table full of live owners: it trusts that for a second (no
      // reclaim on every refused registration); an explicit reclaim() judges afresh.
      assert.equal(reg.register(), null);
      assert.equal(reg.reclaim(), 1);
      assert.equal(reg.register(), 0);
      assert.equal(reg.reclaimedCount, 1);
    } finally {
      await child.kill();
      reg.close();
      cleanup(name);
    }
  });
});
