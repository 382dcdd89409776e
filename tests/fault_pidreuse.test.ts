/**
 * Pid reuse, for real: an owner is SIGKILLed, then the kernel is made to give
 * its pid number to another live process (root writes `ns_last_pid`, the
 * pid before the one wanted, then spawns). The slot still names that pid,
 * which is alive, but its thread start time is not the one recorded: the
 * slot is reclaimed. A live owner, including the new holder of the pid when
 * it registers itself, never is. (tests/reclaim.test.ts fakes the same
 * evidence by writing it into a slot; this makes the kernel produce it.)
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, readlinkSync, writeFileSync, writeSync } from "node:fs";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { geometry, S, slotOffset } from "../src/layout.ts";
import { claimWord } from "../src/liveness.ts";
import { Child, CHILD_RUNTIMES, cleanup, nextRuntime, type Runtime, uniqueName } from "./helpers.ts";
import { slots } from "./fixtures/raw.ts";

const NS_LAST_PID = "/proc/sys/kernel/ns_last_pid";

function pidControlProblem(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root to choose the next pid (ns_last_pid)";
  try {
    writeFileSync(NS_LAST_PID, readFileSync(NS_LAST_PID, "utf8").trim());
    return undefined;
  } catch (e) {
    return `cannot write ${NS_LAST_PID}: ${(e as Error).message}`;
  }
}
const SKIP = pidControlProblem();

/** Field 22 of /proc/<pid>/task/<tid>/stat: thread start time in ticks since boot. */
function startTime(pid: number, tid = pid): number {
  const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
  return Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[19]);
}

/** Inode of our pid namespace ("pid:[4026531836]"). */
function pidNamespace(): number {
  return Number(/\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))![1]);
}

/** Write a u64 into a segment through its file, as any process with write access could. */
function poke(name: string, offset: number, value: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, value, true);
  const fd = openSync(`/dev/shm${name}`, "r+");
  try {
    writeSync(fd, b, 0, 8, offset);
  } finally {
    closeSync(fd);
  }
}

/**
 * Spawn with `spawnOne` until the new process gets pid `want`: the pid
 * counter is set just below it first. Other processes forking meanwhile can
 * take it, so retry; misses are killed.
 */
async function spawnAsPid<T extends { pid: number; kill(): Promise<unknown> }>(
  want: number,
  spawnOne: () => T,
): Promise<T> {
  for (let attempt = 0; attempt < 200; attempt++) {
    writeFileSync(NS_LAST_PID, String(want - 1));
    const p = spawnOne();
    if (p.pid === want) return p;
    await p.kill();
  }
  throw new Error(`could not get pid ${want} back in 200 attempts (a busy machine)`);
}

function sleeper(): { pid: number; proc: ChildProcess; kill(): Promise<unknown> } {
  const proc = spawn("sleep", ["60"], { stdio: "ignore" });
  const exited = new Promise((r) => proc.once("exit", r));
  return {
    pid: proc.pid!,
    proc,
    kill: () => {
      proc.kill("SIGKILL");
      return exited;
    },
  };
}

/**
 * SIGKILL a Child and wait until it is reaped. Not `Child.kill`: under Deno,
 * node:child_process's kill() closes the child's pipes before signalling, and
 * child.ts exits normally on stdin EOF, releasing its slot in a race with the
 * signal.
 */
async function sigkill(c: Child): Promise<void> {
  if (c.proc.exitCode === null && c.proc.signalCode === null) process.kill(c.pid, "SIGKILL");
  await c.exited;
}

/** A child that registered a slot, then was SIGKILLed and reaped. Returns its pid, slot and start time. */
async function deadOwner(rt: Runtime, name: string): Promise<{ pid: number; slot: number; token: number }> {
  const a = new Child(rt);
  try {
    await a.send({ op: "open", name });
    const { slot } = await a.send<{ slot: number }>({ op: "register", name, label: "dies" });
    await a.send({ op: "set", slot, value: 1 });
    const token = startTime(a.pid);
    await new Promise((r) => setTimeout(r, 50)); // the next holder of the pid starts at least a few ticks later
    return { pid: a.pid, slot, token };
  } finally {
    await sigkill(a);
  }
}

describe("pid reuse (real)", () => {
  for (const rt of CHILD_RUNTIMES) {
    it(`${rt} owner killed, its pid given to an unrelated live process: reclaimed; a live owner is not`, {
      skip: SKIP,
    }, async () => {
      const name = uniqueName(`reuse-${rt}`);
      const reg = MemoryStatsRegistry.open(name, { capacity: 3 });
      const live = new Child(nextRuntime(rt));
      let heir: Awaited<ReturnType<typeof sleeper>> | undefined;
      try {
        await live.send({ op: "open", name });
        const { slot: liveSlot } = await live.send<{ slot: number }>({
          op: "register",
          name,
          label: "lives",
        });
        const dead = await deadOwner(rt, name);
        heir = await spawnAsPid(dead.pid, sleeper);
        // The slot names a pid (and tid) that is alive right now: kill(pid, 0) would call it live.
        const s = slots(new Uint8Array(readFileSync(`/dev/shm${name}`)))[dead.slot];
        assert.deepEqual([s.pid, s.tid], [dead.pid, dead.pid]);
        assert.equal(reg.slotStats(dead.slot), null, "readers already leave the dead owner out");
        process.kill(dead.pid, 0);
        assert.notEqual(startTime(dead.pid), dead.token, "the new process started at another time");
        assert.deepEqual(reg.ownerCensus(), { live: 1, dead: 1 });
        assert.equal(reg.reclaim(), 1);
        assert.equal(reg.slotStats(dead.slot), null);
        assert.equal(reg.slotStats(liveSlot)?.label, "lives", "the live owner keeps its slot");
        assert.equal(reg.reclaim(), 0);
        // A claim interrupted by the same death, its claim word naming the reused tid: reclaimed too.
        const word = claimWord({
          pid: dead.pid,
          tid: dead.pid,
          token: dead.token,
          pidNamespace: pidNamespace(),
        });
        poke(name, slotOffset(geometry(3, 1), dead.slot) + S.owner, word);
        assert.equal(reg.aggregateStats().activeThreads, 1, "a claim in progress is not active");
        assert.deepEqual(reg.ownerCensus(), { live: 1, dead: 1 });
        assert.equal(reg.reclaim(), 1, "its claimer's tid is alive but started at another time");
      } finally {
        await heir?.kill();
        await sigkill(live);
        reg.close();
        cleanup(name);
      }
    });
  }

  for (const rt of CHILD_RUNTIMES) {
    it(
      `the pid's new holder is itself a ${rt} writer: on a full table it takes the dead slot, and keeps it`,
      { skip: SKIP },
      async () => {
        const name = uniqueName(`heir-${rt}`);
        const reg = MemoryStatsRegistry.open(name, { capacity: 2 });
        let heir: Child | undefined;
        try {
          const mine = reg.register({ label: "parent" });
          assert.notEqual(mine, null);
          const dead = await deadOwner(nextRuntime(rt), name);
          heir = await spawnAsPid(dead.pid, () => {
            const c = new Child(rt);
            return Object.assign(c, { kill: () => sigkill(c) });
          });
          await heir.send({ op: "open", name });
          const { slot } = await heir.send<{ slot: number | null }>({ op: "register", name, label: "heir" });
          assert.equal(slot, dead.slot, "the full table gave the heir the dead owner's slot");
          const s = reg.slotStats(dead.slot)!;
          assert.deepEqual([s.pid, s.label], [dead.pid, "heir"], "same pid number, new owner");
          assert.deepEqual([reg.reclaimedCount, reg.overflowCount], [1, 0]);
          assert.equal(reg.reclaim(), 0, "the heir is alive and its start time matches: never taken");
          assert.deepEqual(reg.ownerCensus(), { live: 2, dead: 0 });
        } finally {
          await heir?.kill();
          reg.close();
          cleanup(name);
        }
      },
    );
  }
});
