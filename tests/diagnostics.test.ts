/**
 * installDiagnostics in real Bun, Deno and Node processes: SIGQUIT sent from this
 * (another) process prints the report to stderr and the process carries
 * on; MEMSTATS_REPORT prints or writes the same report at exit, still
 * showing the exiting process's own slots.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { CHILD_RUNTIMES, cleanup, type Runtime, uniqueName } from "./helpers.ts";
import { Proc } from "./fixtures/proc.ts";

async function start(rt: Runtime, name: string, env: Record<string, string> = {}): Promise<Proc> {
  const p = new Proc(rt, "diag_child.ts", env);
  await p.send({ op: "open", name, options: { capacity: 4 } });
  const { slot } = await p.send({ op: "register", label: `${rt}-diag` });
  await p.send({ op: "update", slot, values: { arena_bytes: 12345 } });
  await p.send({ op: "diagnostics" });
  return p;
}

describe("diagnostics", () => {
  for (const rt of CHILD_RUNTIMES) {
    it(`${rt}: SIGQUIT from another process prints the report to stderr; the process lives on`, async () => {
      const name = uniqueName(`diag-${rt}`);
      const p = await start(rt, name, { MEMSTATS_REPORT: "" });
      try {
        process.kill(p.pid, "SIGQUIT");
        const text = await p.waitStderr(/=== end of memstats report\n/);
        assert.match(text, new RegExp(`=== memstats report: pid ${p.pid}, segment ${name}, \\d{4}-`));
        assert.match(text, /^tracked threads: 1 of 4 slots$/m);
        assert.match(text, /^total arena_bytes: 12\.1K \(12345\)$/m);
        assert.match(text, /^SLOT\s+ID\s+PID\s+TID\s+LABEL\s+ARENA\s+AGE$/m);
        assert.match(text, new RegExp(`\\s${p.pid}\\s+${p.pid}\\s+${rt}-diag\\s+12\\.1K / 12\\.1K\\s`));
        assert.equal((await p.send({ op: "ping" })).pid, p.pid, "still answering");
        process.kill(p.pid, "SIGQUIT");
        await p.waitStderr(/(=== end of memstats report\n[\s\S]*){2}/);
        assert.ok(p.alive);
        assert.deepEqual(await p.close(), { code: 0, signal: null });
      } finally {
        await p.kill();
        cleanup(name);
      }
    });

    it(`${rt}: the report warns about refused registrations`, async () => {
      const name = uniqueName(`diag-full-${rt}`);
      const p = await start(rt, name, { MEMSTATS_REPORT: "" });
      try {
        for (let i = 0; i < 4; i++) await p.send({ op: "register", label: `extra-${i}` });
        process.kill(p.pid, "SIGQUIT");
        const text = await p.waitStderr(/=== end of memstats report\n/);
        assert.match(text, /^tracked threads: 4 of 4 slots$/m);
        assert.match(
          text,
          /^warning: 1 registration was refused because the table is full \(capacity 4\).*capacity 8/m,
        );
      } finally {
        await p.kill();
        cleanup(name);
      }
    });

    it(`${rt}: MEMSTATS_REPORT=json:/path writes the JSON report at exit, with the process's own slots`, async () => {
      const name = uniqueName(`diag-json-${rt}`);
      const dir = mkdtempSync(`${tmpdir()}/memstats-report-`);
      const file = `${dir}/report.json`;
      const p = await start(rt, name, { MEMSTATS_REPORT: `json:${file}` });
      try {
        assert.deepEqual(await p.close(), { code: 0, signal: null });
        const doc = JSON.parse(readFileSync(file, "utf8"));
        assert.equal(doc.schemaVersion, 1);
        assert.equal(doc.name, name);
        assert.equal(doc.activeThreads, 1);
        assert.equal(doc.totals.arena_bytes, 12345);
        assert.equal(doc.slots[0].label, `${rt}-diag`);
        assert.equal(doc.slots[0].pid, p.pid);
        assert.equal(p.stderr, "", "nothing on stderr");
      } finally {
        await p.kill();
        rmSync(dir, { recursive: true, force: true });
        cleanup(name);
      }
    });

    it(`${rt}: without installDiagnostics, SIGQUIT ends the process, as README and docs/CLI.md say`, async () => {
      const name = uniqueName(`diag-none-${rt}`);
      const p = new Proc(rt, "diag_child.ts", { MEMSTATS_REPORT: "" });
      try {
        await p.send({ op: "open", name, options: { capacity: 4 } });
        await p.send({ op: "register", label: "no-diagnostics" });
        process.kill(p.pid, "SIGQUIT");
        const { code, signal } = await p.exited;
        assert.ok(
          signal === "SIGQUIT" || code === 131,
          `ended by SIGQUIT, got code ${code}, signal ${signal}`,
        );
      } finally {
        await p.kill();
        cleanup(name);
      }
    });

    it(`${rt}: an exit report file replaces a symbolic link planted at its path, never writes through it`, async () => {
      const dir = mkdtempSync(`${tmpdir()}/memstats-report-`);
      const victim = `${dir}/victim`;
      writeFileSync(victim, "precious\n");
      try {
        const cases: [string, string, string][] = [
          ["json", `${dir}/report.json`, victim], // a link to an existing file
          ["text", `${dir}/report.txt`, `${dir}/created-through-link`], // a dangling link
        ];
        for (const [format, file, target] of cases) {
          symlinkSync(target, file);
          const name = uniqueName(`diag-link-${rt}`);
          const p = await start(rt, name, { MEMSTATS_REPORT: `${format}:${file}` });
          try {
            assert.deepEqual(await p.close(), { code: 0, signal: null });
            assert.equal(p.stderr, "", "nothing on stderr");
            assert.ok(lstatSync(file).isFile(), `${format}: the link was replaced by a regular file`);
            const text = readFileSync(file, "utf8");
            if (format === "json") assert.equal(JSON.parse(text).slots[0].label, `${rt}-diag`);
            else assert.match(text, /=== end of memstats report\n$/);
          } finally {
            await p.kill();
            cleanup(name);
          }
        }
        assert.equal(readFileSync(victim, "utf8"), "precious\n", "the link's target is untouched");
        assert.equal(existsSync(`${dir}/created-through-link`), false, "nothing created through the link");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it(`${rt}: MEMSTATS_REPORT=1 prints the text report to stderr at exit, also after process.exit(3)`, async () => {
      const name = uniqueName(`diag-exit-${rt}`);
      const p = await start(rt, name, { MEMSTATS_REPORT: "1" });
      try {
        p.proc.stdin!.write(JSON.stringify({ op: "exit", code: 3 }) + "\n");
        assert.deepEqual(await p.exited, { code: 3, signal: null });
        assert.match(p.stderr, new RegExp(`=== memstats report: pid ${p.pid}, segment ${name}`));
        assert.match(p.stderr, new RegExp(`${rt}-diag\\s+12\\.1K / 12\\.1K`));
        assert.match(p.stderr, /=== end of memstats report\n$/);
      } finally {
        await p.kill();
        cleanup(name);
      }
    });
  }

  it("a MEMSTATS_REPORT value that is not understood is a warning, not a failure", async () => {
    const name = uniqueName("diag-typo");
    const p = await start("bun", name, { MEMSTATS_REPORT: "yaml" });
    try {
      await p.waitStderr(
        /MEMSTATS_REPORT="yaml" is not understood; use 1, text, json, json:\/path or text:\/path; no exit report/,
      );
      assert.equal((await p.send({ op: "ping" })).pid, p.pid);
      await p.close();
      assert.doesNotMatch(p.stderr, /=== memstats report/);
    } finally {
      await p.kill();
      cleanup(name);
    }
  });
});
