/**
 * The `memstats` CLI against what it meets in the field: another user's
 * segment whose every slot is stuck mid-update (`ls` stays bounded and says
 * what it skipped), segments truncated under a reader (`ls` and `watch`
 * survive, report it, and `watch` always restores the terminal), slots of
 * dead owners and skipped slots in `watch`, hostile file names and labels
 * (escaped, never sent raw to the terminal), and wide CJK labels (padded
 * and cut by display width).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { closeSync, openSync, readSync, rmSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { geometry, S, slotOffset } from "../src/layout.ts";
import { cleanup, HERE, OTHER, ROOT, runArgs, uniqueName, waitFor } from "./helpers.ts";
import { cli, Proc } from "./fixtures/proc.ts";
import { frameLines, framesOf, Pty, ptyProblem } from "./fixtures/pty.ts";

const path = (name: string) => `/dev/shm${name}`;
const CLI = `${ROOT}src/cli/main.ts`;
// Display width as a terminal counts it, for the characters these tests use: CJK ideographs take two columns.
const width = (s: string) => [...s].reduce((w, c) => w + (/[\u4e00-\u9fff]/.test(c) ? 2 : 1), 0);
// deno-lint-ignore no-control-regex
const RAW_UNSAFE = /[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/;

/** Make slot `index` of a one-field segment look stuck mid-update: its seq odd, its owner untouched. */
function makeStuck(name: string, capacity: number, index: number): void {
  const g = geometry(capacity, 1);
  const fd = openSync(path(name), "r+");
  try {
    const word = new Uint8Array(4);
    const at = slotOffset(g, index) + S.seq;
    readSync(fd, word, 0, 4, at);
    const v = new DataView(word.buffer);
    v.setUint32(0, v.getUint32(0, true) | 1, true);
    writeSync(fd, word, 0, 4, at);
  } finally {
    closeSync(fd);
  }
}

/** Copy slot 0 (a live owner's) over every slot, each with an odd seq: every slot stuck, every owner alive. */
function stickEverySlot(name: string, capacity: number): void {
  const g = geometry(capacity, 1);
  const fd = openSync(path(name), "r+");
  try {
    const one = new Uint8Array(g.slotStride);
    readSync(fd, one, 0, one.length, slotOffset(g, 0));
    const v = new DataView(one.buffer);
    v.setUint32(S.seq, v.getUint32(S.seq, true) | 1, true);
    const all = new Uint8Array(g.slotStride * capacity);
    for (let i = 0; i < capacity; i++) all.set(one, i * g.slotStride);
    writeSync(fd, all, 0, all.length, slotOffset(g, 0));
  } finally {
    closeSync(fd);
  }
}

describe("memstats CLI in the field", () => {
  it("ls: a segment whose every slot is stuck mid-update by a live owner is read within a bounded time and its slots are listed as skipped", () => {
    const stuck = uniqueName("ls-stuck");
    const fine = uniqueName("ls-fine");
    const capacity = 65536;
    const reg = MemoryStatsRegistry.open(stuck, { capacity });
    const ok = MemoryStatsRegistry.open(fine, { capacity: 4 });
    try {
      reg.registerSlot({ label: "stuck" })!.set(1);
      stickEverySlot(stuck, capacity);
      ok.registerSlot({ label: "fine" })!.set(2);
      // Generous: the old reader spent 1,000 retries on each of these slots.
      const r = cli(HERE, ["ls", "--json"]);
      assert.equal(r.status, 0, r.stderr);
      const rows = JSON.parse(r.stdout);
      const s = rows.find((x: { name: string }) => x.name === stuck);
      assert.deepEqual(
        {
          capacity: s.capacity,
          activeThreads: s.activeThreads,
          deadOwners: s.deadOwners,
          skippedSlots: s.skippedSlots,
          error: s.error,
        },
        { capacity, activeThreads: 0, deadOwners: 0, skippedSlots: capacity, error: null },
      );
      const f = rows.find((x: { name: string }) => x.name === fine);
      assert.deepEqual([f.activeThreads, f.skippedSlots], [1, 0], "the other segments are read in full");
      const text = cli(HERE, ["ls"]).stdout.split("\n");
      assert.match(text[0], /^NAME\s+CAPACITY\s+ACTIVE\s+DEAD\s+SKIPPED\s+OWNER\s+MODE\s+SIZE\s+AGE$/);
      assert.match(text.find((l) => l.startsWith(stuck + " ")) ?? "", /^\S+\s+65536\s+0\s+0\s+65536\s/);
      assert.ok(text.some((l) => /^SKIPPED: slots not read, stuck mid-update or not reached within/.test(l)));
    } finally {
      reg.close();
      ok.close();
      cleanup(stuck, fine);
    }
  });

  it("ls survives segments truncated again and again while it reads them, and reports one that stays truncated", async () => {
    const name = uniqueName("ls-trunc");
    const capacity = 65536;
    const g = geometry(capacity, 1);
    MemoryStatsRegistry.open(name, { capacity }).close();
    const [cmd, argv] = runArgs(OTHER, `${ROOT}tests/fixtures/truncator.ts`, [
      path(name),
      String(g.totalSize),
      "4096",
    ]);
    const flipper = spawn(cmd, argv, { stdio: "ignore" });
    try {
      const runs = Array.from({ length: 6 }, () => cli(HERE, ["ls"]));
      for (const [i, r] of runs.entries()) {
        assert.equal(r.status, 0, `run ${i}: status ${r.status}: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /Bus error|panic|^\s+at /m);
      }
      for (const r of runs) assert.match(r.stdout, new RegExp(`^${name} `, "m"), "the segment is listed");
    } finally {
      flipper.kill("SIGKILL");
      await new Promise((r) => flipper.on("close", r));
    }
    try {
      truncateSync(path(name), 4096);
      const r = cli(HERE, ["ls"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^${name}\\s+-\\s+-\\s+-\\s+-\\s`, "m"));
      assert.match(
        r.stdout,
        new RegExp(`^${name}: TRUNCATED: segment ${name} is 4096 bytes but its header`, "m"),
      );
    } finally {
      cleanup(name);
    }
  });

  it(
    "watch on a terminal survives truncation: reports it, recovers when the file is whole again, quits on q, terminal restored",
    {
      skip: ptyProblem() ?? false,
    },
    async () => {
      const name = uniqueName("watch-trunc");
      const capacity = 65536;
      const g = geometry(capacity, 1);
      const reg = MemoryStatsRegistry.open(name, { capacity });
      reg.registerSlot({ label: "victim" })!.set(5 << 20);
      const [cmd, argv] = runArgs(HERE, CLI, ["watch", name, "--interval", "100"]);
      const pty = new Pty([cmd, ...argv]);
      const alive = () => {
        const code = pty.exitCode();
        assert.equal(code, undefined, `watch ended with ${code}:\n${pty.screen().slice(-2000)}`);
        return true;
      };
      try {
        await waitFor(() => alive() && pty.screen().includes("victim"), 60_000, "first frame");
        truncateSync(path(name), 4096);
        await waitFor(
          () => alive() && /cannot read [\s\S]{0,400}TRUNCATED/.test(pty.screen()),
          30_000,
          "the truncation reported",
        );
        truncateSync(path(name), g.totalSize); // whole again (slot 0 is in the first 4096 bytes: still there)
        const mark = pty.screen().length;
        await waitFor(
          () => alive() && /capacity: 1 of 65536/.test(pty.screen().slice(mark)),
          30_000,
          "recovery",
        );
        const [tcmd, targv] = runArgs(OTHER, `${ROOT}tests/fixtures/truncator.ts`, [
          path(name),
          String(g.totalSize),
          "4096",
        ]);
        const flipper = spawn(tcmd, targv, { stdio: "ignore" });
        try {
          const from = pty.screen().length;
          // A dozen frames drawn while the file keeps changing size under the reader.
          await waitFor(
            () => alive() && pty.screen().slice(from).split("\x1b[H").length > 12,
            60_000,
            "frames during the truncation loop",
          );
        } finally {
          flipper.kill("SIGKILL");
          await new Promise((r) => flipper.on("close", r));
        }
        alive();
        pty.type("q");
        assert.equal(await pty.done, 0);
        assert.equal(pty.exitCode(), 0, pty.screen().slice(-2000));
        const out = pty.screen();
        assert.ok(out.lastIndexOf("\x1b[?1049l") > out.lastIndexOf("\x1b[?1049h"), "alternate screen left");
        assert.ok(out.lastIndexOf("\x1b[?25h") > out.lastIndexOf("\x1b[?25l"), "cursor shown");
        const { before, after } = pty.modes();
        assert.equal(after, before, "tty modes restored");
      } finally {
        pty.dispose();
        reg.close();
        cleanup(name);
      }
    },
  );

  it(
    "watch shows the slots of dead owners awaiting reclaim and the skipped slots, piped and on an 80-column terminal",
    {
      skip: ptyProblem() ?? false,
    },
    async () => {
      const name = uniqueName("watch-dead");
      const reg = MemoryStatsRegistry.open(name, { capacity: 8 });
      const victim = new Proc(OTHER, "diag_child.ts");
      let pty: Pty | undefined;
      try {
        await victim.send({ op: "open", name, options: { create: false } });
        await victim.send({ op: "register", label: "doomed" });
        await victim.kill("SIGKILL");
        reg.registerSlot({ label: "alive" })!.set(1);
        const stuck = reg.registerSlot({ label: "stuck" })!;
        stuck.set(2);
        makeStuck(name, 8, stuck.index);
        const piped = cli(HERE, ["watch", name, "--count", "1"]);
        assert.equal(piped.status, 0, piped.stderr);
        assert.match(
          piped.stdout,
          /^capacity: 1 of 8 slots used \(13%\), 0 refused, 0 reclaimed, 1 slot of dead owners awaiting reclaim \(memstats gc\), 1 slot skipped \(a write in progress, or out of time\)$/m,
        );
        const [cmd, argv] = runArgs(HERE, CLI, ["watch", name, "--interval", "200"]);
        pty = new Pty([cmd, ...argv], 24, 80);
        await waitFor(() => framesOf(pty!.screen()).some((f) => f.includes("skipped")), 60_000, "a frame");
        pty.type("q");
        assert.equal(await pty.done, 0);
        const lines = frameLines(framesOf(pty.screen()).filter((f) => f.includes("skipped")).at(-1)!);
        assert.ok(lines.includes("1 slot of dead owners awaiting reclaim (memstats gc)"), lines.join("\n"));
        assert.ok(lines.includes("1 slot skipped (a write in progress, or out of time)"), lines.join("\n"));
      } finally {
        pty?.dispose();
        await victim.kill();
        reg.close();
        cleanup(name);
      }
    },
  );

  it("ls --all shows other files' names with control and bidi characters escaped", () => {
    const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const hostile = `mst-evil-${tag}-\x1b]52;c;cHduZWQ=\x07\x1b[2J\u202egnp.exe\r`;
    writeFileSync(path(`/${hostile}`), "not a segment");
    try {
      for (const args of [["ls", "--all"], ["ls", "--all", "--json"]]) {
        const r = cli(HERE, args);
        assert.equal(r.status, 0, r.stderr);
        assert.doesNotMatch(r.stdout, RAW_UNSAFE, `${args.join(" ")}: raw control or bidi characters`);
        assert.ok(!r.stdout.includes("\x1b"), "no escape character");
      }
      const text = cli(HERE, ["ls", "--all"]).stdout;
      assert.ok(
        text.includes(
          `/dev/shm/mst-evil-${tag}-\\x1b]52;c;cHduZWQ=\\x07\\x1b[2J\\u202egnp.exe\\x0d: skipped,`,
        ),
        text,
      );
      const json = JSON.parse(cli(HERE, ["ls", "--all", "--json"]).stdout);
      assert.ok(json.skipped.some((s: { file: string }) => s.file === hostile), "JSON keeps the exact name");
    } finally {
      rmSync(path(`/${hostile}`), { force: true });
    }
  });

  it(
    "show and watch: labels with control and bidi characters never reach the terminal raw; wide labels are padded and cut by display width",
    {
      skip: ptyProblem() ?? false,
    },
    async () => {
      const name = uniqueName("cli-labels");
      const reg = MemoryStatsRegistry.open(name, {
        capacity: 8,
        fields: ["arena_bytes", "requests", "errors"],
      });
      const labels = [
        "plain",
        "evil\x1b[2J\x07\u202eexe.txt",
        "内存监控-worker", // 6 wide characters: 16 columns
        "一二三四五六七八九十一二三四五", // 15 wide characters: 30 columns, cut to 20
      ];
      let pty: Pty | undefined;
      try {
        for (const [i, label] of labels.entries()) {
          reg.registerSlot({ label })!.update({
            arena_bytes: (i + 1) << 20,
          });
        }
        const r = cli(HERE, ["show", name]);
        assert.equal(r.status, 0, r.stderr);
        assert.doesNotMatch(r.stdout, RAW_UNSAFE);
        assert.match(r.stdout, /evil\ufffd\[2J\ufffd\ufffdexe\.txt/);
        const lines = r.stdout.trimEnd().split("\n");
        const header = lines[1];
        const rows = lines.filter((l) => /^\s*\d+\s+\d+\s/.test(l));
        assert.equal(rows.length, 4);
        for (const row of rows) {
          assert.equal(
            width(row),
            width(header),
            `aligned by display width:\n${r.stdout}`,
          );
        }
        assert.ok(r.stdout.includes("内存监控-worker "), "a wide label that fits is whole");
        assert.ok(r.stdout.includes("一二三四五六七八九… "), "a label too wide is cut to 20 columns");
        // On an 80-column terminal, no line of any frame takes more than 80 columns.
        const [cmd, argv] = runArgs(HERE, CLI, ["watch", name, "--interval", "200"]);
        pty = new Pty([cmd, ...argv], 24, 80);
        await waitFor(
          () => framesOf(pty!.screen()).filter((f) => f.includes("SLOT")).length >= 2,
          60_000,
          "frames",
        );
        pty.type("q");
        assert.equal(await pty.done, 0);
        const frames = framesOf(pty.screen()).filter((f) => f.includes("SLOT"));
        assert.match(frames.at(-1)!, /evil\ufffd\[2J\ufffd\ufffdexe\.txt/);
        for (const f of frames) {
          // Colours and cursor moves are the program's own (and removed here); nothing else may remain.
          assert.doesNotMatch(frameLines(f).join("\n"), RAW_UNSAFE);
          assert.ok(!frameLines(f).join("\n").includes("\x1b"), "no escape sequence but the program's own");
          for (const l of frameLines(f)) assert.ok(width(l) <= 80, `${width(l)} columns: ${l}`);
        }
        assert.ok(frames.at(-1)!.includes("内存监控-worker"));
      } finally {
        pty?.dispose();
        reg.close();
        cleanup(name);
      }
    },
  );
});
