/**
 * The `memstats` CLI against real segments written by real Bun and Deno
 * processes: table columns and values, the JSON schema, Prometheus output
 * (checked by promtool when installed), ls, rm, gc, and exit codes and
 * messages for missing, corrupt and foreign-owned segments. The CLI runs in
 * the runtime running this file, so the suite covers both.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chownSync, existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { cleanup, HERE, uniqueName, waitFor } from "./helpers.ts";
import { cli, hasTool, Proc, startTwoWriters } from "./fixtures/proc.ts";

const MiB = 1 << 20;
const path = (name: string) => `/dev/shm${name}`;
const oneLine = (s: string) => {
  assert.equal(s.trim().split("\n").length, 1, `expected one line, got:\n${s}`);
  assert.doesNotMatch(s, /^\s+at /m, "no stack trace");
};

describe("memstats CLI", () => {
  const name = uniqueName("cli");
  const fields = ["arena_bytes", "rss_bytes", "requests"];
  let bun: Proc;
  let deno: Proc;

  before(async () => {
    const specs = ["arena_bytes", { name: "rss_bytes", kind: "process" as const }, "requests"];
    ({ bun, deno } = await startTwoWriters(name, specs, { arena_bytes: 1 * MiB }));
  });

  after(async () => {
    await bun.close();
    await deno.close();
    cleanup(name);
  });

  it("show: a row per slot with slot, id, pid, tid, label, value / peak in human units, age; totals; capacity", () => {
    const r = cli(HERE, ["show", name]);
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[0], new RegExp(`^${name}  layout 1\\.1 `));
    assert.match(lines[1], /^SLOT\s+ID\s+PID\s+TID\s+LABEL\s+ARENA\s+RSS\s+REQUESTS\s+AGE$/);
    const bunRow = lines.find((l) => l.includes("bun-main"))!;
    const denoRow = lines.find((l) => l.includes("deno-main"))!;
    assert.match(
      bunRow,
      new RegExp(
        `^\\s*0\\s+1\\s+${bun.pid}\\s+${bun.pid}\\s+bun-main\\s+1\\.00M / 3\\.00M\\s+50\\.0M / 50\\.0M\\s+1\\.50k / 1\\.50k\\s+\\d+(\\.\\d)?s$`,
      ),
    );
    assert.match(
      denoRow,
      new RegExp(
        `^\\s*1\\s+2\\s+${deno.pid}\\s+${deno.pid}\\s+deno-main\\s+2\\.00K / 2\\.00K\\s+10\\.0M / 10\\.0M\\s+7 / 7\\s`,
      ),
    );
    // 1 MiB + 2 KiB; RSS counts each process once; 1507 requests.
    assert.match(lines.find((l) => l.includes("total (2)"))!, /total \(2\)\s+1\.00M\s+60\.0M\s+1\.51k$/);
    assert.ok(lines.includes("capacity: 2 of 4 slots used (50%), 0 refused, 0 reclaimed"), r.stdout);
    assert.doesNotMatch(r.stdout, /warning/);
    assert.ok(!r.stdout.includes("\x1b"), "no colours when piped");
  });

  it("show --sort orders rows by a field, largest first; a bad key is a usage error", () => {
    const byReq = cli(HERE, ["show", name, "--sort", "requests"]).stdout;
    assert.ok(byReq.indexOf("bun-main") < byReq.indexOf("deno-main"));
    const byLabel = cli(HERE, ["show", name.slice(1), "--sort=label"]).stdout; // name without the leading slash
    assert.ok(byLabel.indexOf("bun-main") < byLabel.indexOf("deno-main"));
    const bad = cli(HERE, ["show", name, "--sort", "nope"]);
    assert.equal(bad.status, 2);
    assert.match(
      bad.stderr,
      /unknown sort key "nope"; use slot, pid, label, age or a field: arena_bytes, rss_bytes, requests/,
    );
  });

  it("show --json: the documented schema, exact values", () => {
    const r = cli(HERE, ["show", name, "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(doc), [
      "schemaVersion",
      "name",
      "layoutVersion",
      "capacity",
      "fields",
      "kinds",
      "createdAt",
      "creatorPid",
      "takenAt",
      "activeThreads",
      "deadSlots",
      "skippedSlots",
      "overflowCount",
      "reclaimedCount",
      "totals",
      "slots",
    ]);
    assert.equal(doc.schemaVersion, 1);
    assert.equal(doc.name, name);
    assert.equal(doc.layoutVersion, "1.1");
    assert.deepEqual(doc.kinds, ["thread", "process", "thread"]);
    assert.deepEqual([doc.deadSlots, doc.skippedSlots], [0, 0]);
    assert.equal(doc.capacity, 4);
    assert.deepEqual(doc.fields, fields);
    assert.equal(doc.creatorPid, bun.pid);
    assert.ok(doc.createdAt <= doc.takenAt && doc.takenAt <= Date.now());
    assert.equal(doc.activeThreads, 2);
    assert.equal(doc.overflowCount, 0);
    assert.equal(doc.reclaimedCount, 0);
    assert.deepEqual(doc.totals, { arena_bytes: MiB + 2048, rss_bytes: 60 * MiB, requests: 1507 });
    assert.equal(doc.slots.length, 2);
    const [b, d] = doc.slots;
    assert.deepEqual(Object.keys(b), [
      "slot",
      "threadId",
      "pid",
      "tid",
      "label",
      "values",
      "peaks",
      "registeredAt",
      "updatedAt",
    ]);
    assert.deepEqual(
      { slot: b.slot, threadId: b.threadId, pid: b.pid, tid: b.tid, label: b.label },
      { slot: 0, threadId: 1, pid: bun.pid, tid: bun.pid, label: "bun-main" },
    );
    assert.deepEqual(b.values, { arena_bytes: MiB, rss_bytes: 50 * MiB, requests: 1500 });
    assert.deepEqual(b.peaks, { arena_bytes: 3 * MiB, rss_bytes: 50 * MiB, requests: 1500 });
    assert.equal(d.label, "deno-main");
    assert.equal(d.pid, deno.pid);
    assert.deepEqual(d.values, { arena_bytes: 2048, rss_bytes: 10 * MiB, requests: 7 });
    assert.ok(b.registeredAt <= b.updatedAt && b.updatedAt <= doc.takenAt);
  });

  it("show --prom: a HELP and TYPE line per family, per-slot gauges with escaped labels, totals and counters", async () => {
    const nasty = 'a "quoted" \\ back\nslash';
    const s = await bun.send({ op: "register", label: nasty });
    try {
      const r = cli(HERE, ["show", name, "--prom"]);
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.split("\n");
      for (const fam of ["memstats_slot_value", "memstats_slot_peak", "memstats_segment_value"]) {
        assert.ok(lines.includes(`# TYPE ${fam} gauge`), fam);
        assert.equal(lines.filter((l) => l.startsWith(`# HELP ${fam} `)).length, 1, fam);
      }
      assert.ok(lines.includes("# TYPE memstats_overflow_total counter"));
      assert.ok(lines.includes("# TYPE memstats_reclaimed_total counter"));
      const lbl = (label: string, pid: number, slot: number) =>
        `segment="${name}",slot="${slot}",pid="${pid}",tid="${pid}",label="${label}"`;
      assert.ok(
        lines.includes(`memstats_slot_value{${lbl("bun-main", bun.pid, 0)},field="arena_bytes"} ${MiB}`),
      );
      assert.ok(
        lines.includes(`memstats_slot_peak{${lbl("bun-main", bun.pid, 0)},field="arena_bytes"} ${3 * MiB}`),
      );
      assert.ok(lines.includes(`memstats_slot_value{${lbl("deno-main", deno.pid, 1)},field="requests"} 7`));
      // Quotes and backslashes escaped; the line feed, like every control character, replaced at read time.
      const escaped = 'a \\"quoted\\" \\\\ back\ufffdslash';
      assert.ok(
        lines.includes(`memstats_slot_value{${lbl(escaped, bun.pid, s.slot)},field="arena_bytes"} 0`),
        r.stdout,
      );
      assert.ok(lines.includes(`memstats_segment_value{segment="${name}",field="requests"} 1507`));
      assert.ok(lines.includes(`memstats_active_slots{segment="${name}"} 3`));
      assert.ok(lines.includes(`memstats_dead_slots{segment="${name}"} 0`));
      assert.ok(lines.includes(`memstats_skipped_slots{segment="${name}"} 0`));
      assert.ok(lines.includes(`memstats_capacity_slots{segment="${name}"} 4`));
      assert.ok(lines.includes(`memstats_overflow_total{segment="${name}"} 0`));
      assert.ok(r.stdout.endsWith("\n"));
    } finally {
      await bun.send({ op: "release", slot: s.slot }).catch(() => {});
    }
  });

  it("show --prom passes `promtool check metrics`", {
    skip: hasTool("promtool") ? false : "promtool not installed (Debian package prometheus)",
  }, () => {
    const r = cli(HERE, ["show", name, "--prom"]);
    assert.equal(r.status, 0, r.stderr);
    const check = spawnSync("promtool", ["check", "metrics"], { input: r.stdout, encoding: "utf8" });
    assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
  });

  it("show: refused registrations give the overflow warning and the capacity to raise to", () => {
    const small = uniqueName("cli-full");
    const reg = MemoryStatsRegistry.open(small, { capacity: 2 });
    try {
      reg.register();
      reg.register();
      assert.equal(reg.register(), null);
      assert.equal(reg.register(), null);
      assert.equal(reg.register(), null);
      const text = cli(HERE, ["show", small]).stdout;
      assert.match(text, /capacity: 2 of 2 slots used \(100%\), 3 refused, 0 reclaimed/);
      assert.match(
        text,
        /warning: 3 registrations were refused because the table is full \(capacity 2\).*capacity 8/,
      );
      const doc = JSON.parse(cli(HERE, ["show", small, "--json"]).stdout);
      assert.equal(doc.overflowCount, 3);
      assert.equal(doc.suggestedCapacity, 8);
    } finally {
      reg.close();
      cleanup(small);
    }
  });

  it("read-only commands never change a byte of the segment", () => {
    const before = readFileSync(path(name));
    for (
      const args of [["show", name], ["show", name, "--json"], ["show", name, "--prom"], ["ls"], [
        "watch",
        name,
        "--count",
        "2",
        "--interval",
        "50",
      ]]
    ) {
      assert.equal(cli(HERE, args).status, 0, args.join(" "));
    }
    assert.ok(readFileSync(path(name)).equals(before));
  });

  it("ls: our segments with capacity, active and dead slots, owner, mode, size, age; other files skipped", () => {
    const junk = uniqueName("cli-junk");
    const fifo = uniqueName("cli-fifo");
    writeFileSync(path(junk), "not a memstats segment, just some bytes ".repeat(8));
    spawnSync("mkfifo", [path(fifo)]);
    try {
      const r = cli(HERE, ["ls"]);
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.split("\n");
      assert.match(lines[0], /^NAME\s+CAPACITY\s+ACTIVE\s+DEAD\s+SKIPPED\s+OWNER\s+MODE\s+SIZE\s+AGE$/);
      const user = spawnSync("id", ["-un"], { encoding: "utf8" }).stdout.trim();
      const row = lines.find((l) => l.startsWith(name + " "));
      assert.match(
        row ?? "",
        new RegExp(`^${name}\\s+4\\s+2\\s+0\\s+0\\s+${user}\\s+0600\\s+[\\d.]+K\\s+\\d`),
      );
      assert.ok(!r.stdout.includes(junk) && !r.stdout.includes(fifo));
      const all = cli(HERE, ["ls", "--all"]).stdout;
      assert.match(all, new RegExp(`/dev/shm${junk}: skipped, no memstats magic`));
      assert.match(all, new RegExp(`/dev/shm${fifo}: skipped, not a regular file`));
      const json = JSON.parse(cli(HERE, ["ls", "--json"]).stdout);
      const mine = json.find((s: { name: string }) => s.name === name);
      assert.deepEqual(
        {
          capacity: mine.capacity,
          activeThreads: mine.activeThreads,
          deadOwners: mine.deadOwners,
          mode: mine.mode,
        },
        { capacity: 4, activeThreads: 2, deadOwners: 0, mode: "0600" },
      );
    } finally {
      rmSync(path(junk), { force: true });
      rmSync(path(fifo), { force: true });
    }
  });

  it("a missing segment is exit 1 with one line naming NOT_FOUND, for every command that takes a name", () => {
    const missing = uniqueName("cli-missing");
    for (const cmd of ["show", "watch", "rm", "gc"]) {
      const r = cli(HERE, [cmd, missing]);
      assert.equal(r.status, 1, `${cmd}: ${r.stdout}${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(
          `^memstats ${cmd}: segment ${missing} does not exist; check the name with \`memstats ls\`.*\\[NOT_FOUND\\]\\n$`,
        ),
      );
      oneLine(r.stderr);
    }
  });

  it("a corrupt segment is exit 1 with one line naming the problem, never a stack trace", () => {
    const junk = uniqueName("cli-bad");
    const cut = uniqueName("cli-cut");
    writeFileSync(path(junk), new Uint8Array(4096).fill(0x41));
    const reg = MemoryStatsRegistry.open(cut, { capacity: 64 });
    reg.close();
    truncateSync(path(cut), 1024); // header intact, slots gone
    try {
      const bad = cli(HERE, ["show", junk]);
      assert.equal(bad.status, 1);
      assert.match(bad.stderr, /is not a memstats segment \(wrong magic bytes\).*\[BAD_MAGIC\]/);
      oneLine(bad.stderr);
      const short = cli(HERE, ["show", cut, "--json"]);
      assert.equal(short.status, 1);
      assert.match(short.stderr, /was truncated: remove it.*\[TRUNCATED\]/);
      assert.equal(short.stdout, "");
      oneLine(short.stderr);
      // rm takes the truncated one (nobody can be using it) but not a file that is not ours.
      assert.equal(cli(HERE, ["rm", cut]).status, 0);
      assert.equal(existsSync(path(cut)), false);
      const notOurs = cli(HERE, ["rm", junk]);
      assert.equal(notOurs.status, 1);
      assert.match(
        notOurs.stderr,
        /refusing to remove .*not a memstats segment.*pass --force.*\[BAD_MAGIC\]/,
      );
      assert.equal(cli(HERE, ["rm", junk, "--force"]).status, 0);
      assert.equal(existsSync(path(junk)), false);
    } finally {
      rmSync(path(junk), { force: true });
      cleanup(cut);
    }
  });

  it("rm and gc remove only memstats segments: a non-empty file without the magic needs --force, whatever its size", () => {
    const files: [string, Uint8Array][] = [
      ["hello", new TextEncoder().encode("hello")],
      ["zeros", new Uint8Array(3)], // a few zero bytes: no creator ever leaves this
      ["prefix", new TextEncoder().encode("MEMSTAT")], // the magic cut short
      ["big", new Uint8Array(8192).fill(7)],
    ];
    const names = files.map(([tag]) => uniqueName(`cli-notours-${tag}`));
    files.forEach(([, bytes], i) => writeFileSync(path(names[i]), bytes));
    try {
      for (const [i, n] of names.entries()) {
        const r = cli(HERE, ["rm", n]);
        assert.equal(r.status, 1, `${files[i][0]}: ${r.stdout}${r.stderr}`);
        assert.equal(r.stdout, "", "nothing removed");
        assert.match(
          r.stderr,
          new RegExp(
            `^memstats rm: refusing to remove ${n}: it is not a memstats segment \\(${
              files[i][1].length
            } bytes? without the memstats magic; it may belong to another program\\).*pass --force.*\\[BAD_MAGIC\\]\\n$`,
          ),
        );
        oneLine(r.stderr);
        assert.ok(existsSync(path(n)), `${files[i][0]} kept`);
        // show explains without advising removal; gc, named or not, leaves it alone.
        const s = cli(HERE, ["show", n]);
        assert.equal(s.status, 1);
        assert.match(s.stderr, /not a memstats segment.*\[(BAD_MAGIC|TRUNCATED)\]/);
        assert.doesNotMatch(s.stderr, /memstats rm|remove it/);
        assert.equal(cli(HERE, ["gc", n, "--remove-empty", "--grace", "0"]).status, 1);
        assert.ok(existsSync(path(n)), `${files[i][0]} kept by gc`);
      }
      for (const n of names) assert.equal(cli(HERE, ["rm", n, "--force"]).status, 0);
      assert.ok(names.every((n) => !existsSync(path(n))), "--force removes them");
      // An empty file is a segment its creator never sized: rm takes it without --force.
      const empty = uniqueName("cli-empty");
      writeFileSync(path(empty), "");
      const r = cli(HERE, ["rm", empty]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(existsSync(path(empty)), false);
    } finally {
      for (const n of names) rmSync(path(n), { force: true });
    }
  });

  it("a segment owned by another user is refused with EACCES naming --allow-foreign, read with it", {
    skip: process.getuid?.() === 0 ? false : "needs root to give a segment to another user",
  }, () => {
    const foreign = uniqueName("cli-foreign");
    const reg = MemoryStatsRegistry.open(foreign, { capacity: 2 });
    reg.registerSlot({ label: "theirs" })?.set(77);
    chownSync(path(foreign), 65534, 65534);
    try {
      const r = cli(HERE, ["show", foreign]);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /belongs to uid 65534, not to you \(uid 0\).*--allow-foreign.*\[EACCES\]/);
      oneLine(r.stderr);
      const ok = cli(HERE, ["show", foreign, "--allow-foreign", "--json"]);
      assert.equal(ok.status, 0, ok.stderr);
      assert.equal(JSON.parse(ok.stdout).slots[0].label, "theirs");
      const listed = cli(HERE, ["ls"]).stdout.split("\n").find((l) => l.startsWith(foreign + " "));
      assert.match(listed ?? "", /\s1\s+0\s+0\s+(nobody|65534)\s+0600\s/);
    } finally {
      reg.close();
      cleanup(foreign);
    }
  });

  it("usage errors exit 2 with one line pointing at --help", () => {
    const cases: [string[], RegExp][] = [
      [
        ["frobnicate"],
        /^memstats: unknown command "frobnicate"; commands: show, watch, serve, ls, rm, gc \(see `memstats --help`\)/,
      ],
      [["show", name, "--bogus"], /^memstats show: unknown option --bogus \(see `memstats show --help`\)/],
      [["show", name, "--json", "--prom"], /--json and --prom exclude each other/],
      [["show", name, "extra"], /unexpected argument "extra"/],
      [["watch", name, "--interval", "fast"], /--interval must be a whole number >= 50, got "fast"/],
      [["watch", name, "--interval"], /--interval needs a value \(ms\)/],
      [["gc", "--grace", "-1"], /unknown option -1|--grace must be a whole number/],
      [["rm"], /name the segment to remove/],
      [["ls", "--json=yes"], /--json takes no value/],
    ];
    for (const [args, re] of cases) {
      const r = cli(HERE, args);
      assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, re);
      oneLine(r.stderr);
    }
    const none = cli(HERE, []);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /Usage: memstats <command>/);
  });

  it("--version and -V print the package's one version (deno.json, package.json)", () => {
    const version = JSON.parse(readFileSync(new URL("../deno.json", import.meta.url), "utf8")).version;
    assert.equal(
      JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).version,
      version,
    );
    for (const flag of ["--version", "-V"]) {
      const r = cli(HERE, [flag]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `memstats ${version}\n`);
      assert.equal(r.stderr, "");
    }
    assert.match(cli(HERE, ["--help"]).stdout, /memstats --version/);
  });

  it("--help on every command exits 0 with its usage and options", () => {
    const top = cli(HERE, ["--help"]);
    assert.equal(top.status, 0);
    for (const cmd of ["show", "watch", "ls", "rm", "gc"]) {
      assert.match(top.stdout, new RegExp(`^  ${cmd}\\s`, "m"));
      const r = cli(HERE, [cmd, "--help"]);
      assert.equal(r.status, 0, cmd);
      assert.match(r.stdout, new RegExp(`^Usage: memstats ${cmd} `));
      assert.match(r.stdout, /Options:\n[\s\S]*-h, --help/);
    }
    assert.match(cli(HERE, ["watch", "-h"]).stdout, /--interval <ms>/);
    assert.equal(cli(HERE, ["help", "gc"]).stdout, cli(HERE, ["gc", "--help"]).stdout);
  });

  it("rm refuses while live owners exist, with --force removes anyway", async () => {
    const seg = uniqueName("cli-rm");
    const p = new Proc(HERE === "bun" ? "deno" : "bun", "diag_child.ts");
    try {
      await p.send({ op: "open", name: seg });
      await p.send({ op: "register", label: "live" });
      const r = cli(HERE, ["rm", seg]);
      assert.equal(r.status, 1);
      assert.match(
        r.stderr,
        new RegExp(
          `refusing to remove ${seg}: 1 live owner \\(pid ${p.pid}\\); stop it first, or pass --force`,
        ),
      );
      oneLine(r.stderr);
      assert.ok(existsSync(path(seg)));
      const f = cli(HERE, ["rm", seg, "--force"]);
      assert.equal(f.status, 0, f.stderr);
      assert.equal(f.stdout, `removed ${seg}\n`);
      assert.equal(existsSync(path(seg)), false);
    } finally {
      await p.close();
      cleanup(seg);
    }
  });

  it("gc reclaims dead owners' slots; --remove-empty removes segments without live owners", async () => {
    const seg = uniqueName("cli-gc");
    const reader = MemoryStatsRegistry.open(seg, { capacity: 4 });
    const victim = new Proc(HERE, "diag_child.ts");
    try {
      await victim.send({ op: "open", name: seg });
      await victim.send({ op: "register", label: "doomed" });
      await victim.kill("SIGKILL");
      await waitFor(() => !existsSync(`/proc/${victim.pid}`), 10_000, "victim reaped");
      const ls = cli(HERE, ["ls"]).stdout.split("\n").find((l) => l.startsWith(seg + " "));
      assert.match(ls ?? "", /^\S+\s+4\s+0\s+1\s+0\s/, "no live slot, one dead owner, none skipped");
      const r = cli(HERE, ["gc", seg]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${seg}: reclaimed 1 dead slot, 0 live\n`);
      assert.equal(reader.aggregateStats().activeThreads, 0);
      assert.equal(reader.reclaimedCount, 1);
      const young = cli(HERE, ["gc", seg, "--remove-empty"]);
      assert.match(young.stdout, /kept \(younger than 5000 ms\)/);
      assert.ok(existsSync(path(seg)));
      const gone = cli(HERE, ["gc", seg, "--remove-empty", "--grace", "0"]);
      assert.equal(gone.stdout, `${seg}: reclaimed 0 dead slots, 0 live, removed\n`);
      assert.equal(existsSync(path(seg)), false);
    } finally {
      await victim.kill();
      reader.close();
      cleanup(seg);
    }
  });
});
