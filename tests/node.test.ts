/**
 * Node.js from the outside (run from every runner: each case starts a Node
 * child): what a user sees when FFI is switched off or not permitted, and
 * that loading `node:ffi` prints no warning while other warnings still do.
 * Node older than 26 is tested in package.test.ts, on the built JavaScript.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import process from "node:process";
import { cleanup, onlyUnder, ROOT, runFile, runtimeBin, uniqueName } from "./helpers.ts";

const TRY = `${ROOT}tests/fixtures/try_open.ts`;

interface Answer {
  ok: boolean;
  mstats?: boolean;
  code?: string;
  message?: string;
  active?: number;
}

function node(args: string[], env: Record<string, string> = {}): { answer: Answer; stderr: string } {
  const r = spawnSync(runtimeBin("node"), args, {
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
  assert.ok(line, `no answer (status ${r.status}): ${r.stdout} ${r.stderr}`);
  return { answer: JSON.parse(line), stderr: r.stderr };
}

/** A Node script printing, as JSON, every .ts file under `dirs` that Node's type stripping refuses. */
const STRIP_CHECK = `
const { readdirSync, readFileSync, statSync } = require("node:fs");
const { stripTypeScriptTypes } = require("node:module");
const bad = [];
const walk = (p) => {
  if (statSync(p).isDirectory()) {
    for (const f of readdirSync(p)) if (f !== "node_modules" && !f.startsWith(".")) walk(p + "/" + f);
  } else if (p.endsWith(".ts")) {
    try { stripTypeScriptTypes(readFileSync(p, "utf8")); } catch (e) { bad.push(p + ": " + e.message); }
  }
};
for (const d of process.argv.slice(1)) walk(d);
console.log(JSON.stringify({ ok: bad.length === 0, message: bad.join("; ") }));
`;

describe("Node.js runtime", () => {
  it("every TypeScript file runs in Node's strip-only mode (no parameter properties, enums or namespaces)", () => {
    const dirs = ["mod.ts", "src", "scripts", "tests", "web"].map((d) => `${ROOT}${d}`).filter((d) =>
      existsSync(d)
    );
    const { answer } = node(["--no-warnings", "-e", STRIP_CHECK, ...dirs]);
    assert.equal(answer.ok, true, answer.message ?? "");
  });

  it("FFI switched off (--no-experimental-ffi, flag or NODE_OPTIONS): one SHIM error naming the flag, nothing created", () => {
    for (
      const [args, env] of [
        [["--no-experimental-ffi", TRY], {}],
        [[TRY], { NODE_OPTIONS: "--no-experimental-ffi" }],
      ] as const
    ) {
      const name = uniqueName("noffi");
      try {
        const { answer, stderr } = node([...args, name], env);
        assert.equal(answer.ok, false);
        assert.equal(answer.mstats, true, "a MemstatsError");
        assert.equal(answer.code, "SHIM");
        assert.match(answer.message!, /--no-experimental-ffi/);
        assert.match(answer.message!, /remove that flag/);
        assert.match(answer.message!, /Node\.js 26 or newer/);
        assert.equal(stderr, "", "no warning, no stack trace");
        assert.equal(existsSync(`/dev/shm${name}`), false, "nothing was created");
      } finally {
        cleanup(name);
      }
    }
  });

  it("the permission model without --allow-ffi: one PERMISSION error naming --allow-ffi; with it, the registry opens", () => {
    const name = uniqueName("perm");
    const base = ["--permission", "--allow-fs-read=*", "--allow-fs-write=*", "--allow-child-process"];
    try {
      const denied = node([...base, TRY, name]).answer;
      assert.equal(denied.ok, false);
      assert.equal(denied.mstats, true);
      assert.equal(denied.code, "PERMISSION");
      assert.match(denied.message!, /--allow-ffi/);
      assert.match(denied.message!, /Node\.js 26 or newer/);
      assert.equal(existsSync(`/dev/shm${name}`), false, "nothing was created");
      const allowed = node([...base, "--allow-ffi", TRY, name, "{}", "register", "5"]).answer;
      assert.equal(allowed.ok, true, String(allowed.message));
      assert.equal(allowed.active, 1);
    } finally {
      cleanup(name);
    }
  });

  it("opening a registry prints no ExperimentalWarning; other warnings, experimental ones included, still print", () => {
    const name = uniqueName("warn");
    try {
      const quiet = node([TRY, name, "{}", "register", "7"]);
      assert.equal(quiet.answer.ok, true, String(quiet.answer.message));
      assert.equal(quiet.stderr, "", "nothing on stderr");
      const script = `import { MemoryStatsRegistry } from ${JSON.stringify(`${ROOT}mod.ts`)};
MemoryStatsRegistry.open(${JSON.stringify(name)}).close();
process.emitWarning("the other feature is experimental", "ExperimentalWarning");
console.log(JSON.stringify({ ok: true }));`;
      const loud = node(["--input-type=module", "-e", script]);
      assert.equal(loud.answer.ok, true);
      assert.match(loud.stderr, /ExperimentalWarning: the other feature is experimental/);
      assert.doesNotMatch(loud.stderr, /FFI/);
    } finally {
      cleanup(name);
    }
  });
});

describe("Node.js: reads in a loop that never yields", () => {
  // node:ffi keeps something for every call with a typed-array argument until the event loop
  // turns: a million reads in one synchronous loop held ~30 MB and slowed every later scavenge
  // (scripts/bench.ts saw perThreadStats() cost 10x more after other reads).
  it("a million reads grow resident memory by less than 16 MB", { skip: onlyUnder("node") }, () => {
    const r = runFile("node", `${ROOT}tests/fixtures/sync_reads.ts`, ["1000000"]);
    const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
    assert.ok(line, `no answer (status ${r.status}): ${r.stderr}`);
    const { grownBytes } = JSON.parse(line) as { grownBytes: number };
    assert.ok(grownBytes < 16 * 2 ** 20, `resident memory grew by ${(grownBytes / 2 ** 20).toFixed(1)} MB`);
  });
});
