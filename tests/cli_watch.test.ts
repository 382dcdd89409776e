/**
 * `memstats watch` in a pseudo-terminal (util-linux `script`): it enters the
 * alternate screen, draws, redraws in place as a writer changes its values,
 * quits on `q` and leaves the terminal exactly as it found it. Piped, it
 * prints plain snapshots; it ends when the segment is removed.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { cleanup, HERE, OTHER, ROOT, runArgs, uniqueName, waitFor } from "./helpers.ts";
import { cli, hasTool, Proc } from "./fixtures/proc.ts";

const MiB = 1 << 20;
const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

describe("memstats watch", () => {
  const name = uniqueName("watch");
  let writer: Proc;
  let slot: number;

  before(async () => {
    writer = new Proc(OTHER, "diag_child.ts");
    await writer.send({ op: "open", name, options: { capacity: 8, fields: ["arena_bytes", "requests"] } });
    slot = (await writer.send({ op: "register", label: "writer" })).slot;
    await writer.send({ op: "update", slot, values: { arena_bytes: 5 * MiB, requests: 1 } });
  });

  after(async () => {
    await writer.close();
    cleanup(name);
  });

  it("in a terminal: draws full screen, refreshes in place, quits on q, terminal restored", {
    skip: hasTool("script") ? false : "script not installed (Debian package bsdutils)",
  }, async () => {
    const dir = mkdtempSync(`${tmpdir()}/memstats-watch-`);
    const log = `${dir}/typescript`;
    const [cmd, argv] = runArgs(HERE, `${ROOT}src/cli/main.ts`, ["watch", name, "--interval", "200"]);
    const inner = [
      "stty rows 30 cols 120",
      `stty -g > ${dir}/before`,
      `${[cmd, ...argv].map(quote).join(" ")}`,
      `echo "WATCH-EXIT=$?"`,
      `stty -g > ${dir}/after`,
    ].join("; ");
    const env = { ...process.env };
    delete env.NO_COLOR;
    const s = spawn("script", ["-qfec", inner, log], { stdio: ["pipe", "ignore", "inherit"], env });
    const done = new Promise<number | null>((r) => s.on("exit", (code) => r(code)));
    const screen = () => (existsSync(log) ? readFileSync(log, "utf8") : "");
    try {
      await waitFor(() => screen().includes("5.00M / 5.00M"), 60_000, "first frame");
      await writer.send({ op: "update", slot, values: { arena_bytes: 7 * MiB, requests: 2 } });
      await waitFor(() => screen().includes("7.00M / 7.00M"), 30_000, "a frame with the new value");
      s.stdin!.write("q");
      assert.equal(await done, 0);
      const out = screen();
      const enter = out.indexOf("\x1b[?1049h");
      const leave = out.lastIndexOf("\x1b[?1049l");
      assert.ok(enter >= 0 && leave > enter, "alternate screen entered and left");
      assert.ok(
        out.indexOf("\x1b[?25l") > 0 && out.lastIndexOf("\x1b[?25h") > out.lastIndexOf("\x1b[?25l"),
        "cursor hidden, then shown",
      );
      const frames = out.slice(enter, leave).split("\x1b[H").filter((f) => f.includes("SLOT"));
      assert.ok(frames.length >= 2, `several frames, got ${frames.length}`);
      assert.ok(frames.every((f) => !f.includes("\x1b[2J")), "redrawn in place, not cleared");
      assert.match(frames[0], /memstats watch .* every 200 ms/);
      assert.match(frames.at(-1)!, /ARENA total .*[▁▂▃▄▅▆▇█]+.*7\.00M/);
      assert.ok(frames.at(-1)!.includes("\x1b[1m"), "colours");
      assert.match(out, /WATCH-EXIT=0/);
      assert.equal(
        readFileSync(`${dir}/after`, "utf8"),
        readFileSync(`${dir}/before`, "utf8"),
        "tty modes restored",
      );
    } finally {
      if (s.exitCode === null) s.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("piped: prints one plain snapshot per interval", () => {
    const r = cli(HERE, ["watch", name, "--interval", "100", "--count", "3", "--sort", "requests"]);
    assert.equal(r.status, 0, r.stderr);
    const snaps = r.stdout.split(/^--- \d{4}-\d\d-\d\dT[\d:.]+Z\n/m).filter(Boolean);
    assert.equal(snaps.length, 3);
    for (const snap of snaps) {
      assert.match(snap, /^SLOT\s+ID\s+PID\s+TID\s+LABEL\s+ARENA\s+REQUESTS\s+AGE$/m);
      assert.match(snap, new RegExp(`\\s${writer.pid}\\s+${writer.pid}\\s+writer\\s`));
      assert.match(snap, /^capacity: 1 of 8 slots used/m);
    }
    assert.ok(!r.stdout.includes("\x1b"), "no escape sequences");
  });

  it("ends by itself when the segment is removed", async () => {
    const seg = uniqueName("watch-rm");
    const reg = MemoryStatsRegistry.open(seg);
    reg.close();
    const [cmd, argv] = runArgs(HERE, `${ROOT}src/cli/main.ts`, ["watch", seg, "--interval", "100"]);
    const w = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    w.stdout!.on("data", (d) => (out += d));
    const code = new Promise<number | null>((r) => w.on("close", (c) => r(c))); // after stdout is drained
    try {
      await waitFor(() => out.includes("capacity:"), 60_000, "first snapshot");
      MemoryStatsRegistry.unlink(seg);
      assert.equal(await code, 0);
      assert.match(out, new RegExp(`segment ${seg} was removed; watch ended\\n$`));
    } finally {
      w.kill("SIGKILL");
      cleanup(seg);
    }
  });
});
