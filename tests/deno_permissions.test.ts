/**
 * Deno without `-A` (issue 11, "Permissions as errors"): each use runs with
 * exactly the flags the README lists for it, and with one of them missing
 * it fails with one `PERMISSION` error that names the missing flag, never a
 * raw `NotCapable` stack trace. The package layouts are copies of the
 * source: npm-like (the prebuilt libraries as files, the embedded table
 * empty, as scripts/build_npm.ts makes it) and JSR-like (no native/
 * directory: the embedded prebuilt is written to the cache).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { platformTag } from "../src/ffi/prebuilt.ts";
import { cleanup, ROOT, runtimeBin, uniqueName } from "./helpers.ts";

const work = mkdtempSync(`${tmpdir()}/memstats-perm-`);
const npm = `${work}/npm`;
const jsr = `${work}/jsr`;
for (const dir of [npm, jsr]) {
  cpSync(`${ROOT}mod.ts`, `${dir}/mod.ts`);
  cpSync(`${ROOT}src`, `${dir}/src`, { recursive: true });
  writeFileSync(
    `${dir}/reader.ts`,
    `import { MemoryStatsRegistry, MemstatsError } from "./mod.ts";\n` +
      `try {\n  const r = MemoryStatsRegistry.open(Deno.args[0], { readOnly: true });\n` +
      `  console.log(JSON.stringify(r.aggregateStats().totals));\n  r.close();\n` +
      `} catch (e) {\n  console.log(e instanceof MemstatsError ? \`\${e.code} \${e.message}\` : \`RAW \${e}\`);\n}\n`,
  );
}
cpSync(`${ROOT}native/prebuilt`, `${npm}/native/prebuilt`, { recursive: true });
writeFileSync(`${npm}/src/ffi/prebuilt_embedded.ts`, "export const EMBEDDED_PREBUILT = {};\n");
const PREBUILT_DIR = `${npm}/native/prebuilt/${platformTag()}/`;

const name = uniqueName("perm");
const writer = MemoryStatsRegistry.open(name, { fields: ["heap"] });
writer.registerSlot({ label: "perm" })!.set(7);
after(() => {
  writer.close();
  cleanup(name);
  rmSync(work, { recursive: true, force: true });
});

/** `deno run` with exactly `flags`, from `cwd`, in a clean environment. */
function deno(flags: string[], args: string[], cache: string, extraEnv: string[] = []) {
  const env = [
    `PATH=${process.env.PATH}`,
    `HOME=${process.env.HOME ?? work}`,
    `XDG_CACHE_HOME=${cache}`,
    "NO_COLOR=1",
  ];
  if (process.env.DENO_DIR) env.push(`DENO_DIR=${process.env.DENO_DIR}`);
  else if (process.env.HOME) env.push(`DENO_DIR=${process.env.HOME}/.cache/deno`);
  const r = spawnSync("env", [
    "-i",
    ...env,
    ...extraEnv,
    runtimeBin("deno"),
    "run",
    "--no-prompt",
    ...flags,
    ...args,
  ], {
    encoding: "utf8",
    timeout: 120_000,
    stdin: "ignore",
  } as object);
  return { status: r.status, out: String(r.stdout).trim(), err: String(r.stderr).trim() };
}

/** Every list minus one flag, with the flag left out. */
function eachMissing(flags: string[]): [string, string[]][] {
  return flags.map((f, i) => [f, flags.filter((_, j) => j !== i)]);
}

const READ_PREBUILT = [
  "--allow-ffi",
  "--allow-env=MEMSTATS_SHIM_PATH,MEMSTATS_SHIM_PREBUILT",
  `--allow-read=${PREBUILT_DIR}`,
  "--allow-sys=uid",
];

function cacheFlags(cache: string): string[] {
  return [
    "--allow-ffi",
    "--allow-env=MEMSTATS_SHIM_PATH,MEMSTATS_SHIM_PREBUILT,XDG_CACHE_HOME,HOME,TMPDIR",
    "--allow-sys=uid",
    `--allow-read=${cache}`,
    `--allow-write=${cache}`,
  ];
}

/** What a missing flag must be named as in the error. */
function named(flag: string): RegExp {
  const f = flag.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  if (flag.startsWith("--allow-env=")) return /run again with --allow-env=MEMSTATS_SHIM_PATH/;
  if (flag.startsWith("--allow-read=") || flag.startsWith("--allow-write=")) {
    return new RegExp(`run again with ${f.replace(/\/$/, "")}`);
  }
  return new RegExp(`run again with ${f}`);
}

describe("Deno permissions: the README's minimum flags work, and a missing one is named", () => {
  it("a reader with the npm package's prebuilt shim", () => {
    const cache = `${work}/cache-npm`;
    const ok = deno(READ_PREBUILT, [`${npm}/reader.ts`, name], cache);
    assert.equal(ok.out, JSON.stringify({ heap: 7 }), ok.err);
    assert.equal(existsSync(cache), false, "nothing cached");
    for (const [flag, rest] of eachMissing(READ_PREBUILT)) {
      if (flag === "--allow-sys=uid" && process.getuid?.() === 0) continue; // root owns the files: not asked
      const r = deno(rest, [`${npm}/reader.ts`, name], cache);
      assert.match(r.out, /^PERMISSION Deno refused loading the native shim: /, `${flag}: ${r.out} ${r.err}`);
      assert.match(r.out, named(flag), `${flag} is not named: ${r.out}`);
    }
  });

  it("a reader from JSR: the first use writes the embedded prebuilt to the cache; later uses only read it", () => {
    const cache = `${work}/cache-jsr`;
    eachMissing(cacheFlags(cache)).forEach(([flag], i) => {
      // A fresh cache for each: a run that got further may have filled it.
      const fresh = `${work}/cache-jsr-${i}`;
      const rest = cacheFlags(fresh).filter((f) => f !== flag.replace(cache, fresh));
      const r = deno(rest, [`${jsr}/reader.ts`, name], fresh);
      assert.match(r.out, /^PERMISSION Deno refused loading the native shim: /, `${flag}: ${r.out} ${r.err}`);
      assert.match(r.out, named(flag.replace(cache, fresh)), `${flag} is not named: ${r.out}`);
    });
    const first = deno(cacheFlags(cache), [`${jsr}/reader.ts`, name], cache);
    assert.equal(first.out, JSON.stringify({ heap: 7 }), first.err);
    assert.equal(readdirSync(`${cache}/memstats-shm`).length, 1);
    const later = deno(cacheFlags(cache).filter((f) => !f.startsWith("--allow-write")), [
      `${jsr}/reader.ts`,
      name,
    ], cache);
    assert.equal(later.out, JSON.stringify({ heap: 7 }), later.err);
  });

  it("the first compile, where no prebuilt matches: --allow-env and --allow-run=cc too", {
    skip: spawnSync("cc", ["--version"]).error ? "no C compiler (cc)" : false,
  }, () => {
    const cache = `${work}/cache-cc`;
    const base = cacheFlags(cache).filter((f) => !f.startsWith("--allow-env"));
    const flags = [...base, "--allow-env", "--allow-run=cc"];
    const noRun = deno([...base, "--allow-env"], [`${jsr}/reader.ts`, name], cache, [
      "MEMSTATS_SHIM_PREBUILT=0",
    ]);
    assert.match(noRun.out, /^PERMISSION .*run again with --allow-run=cc;/, noRun.out);
    const r = deno(flags, [`${jsr}/reader.ts`, name], cache, ["MEMSTATS_SHIM_PREBUILT=0"]);
    assert.equal(r.out, JSON.stringify({ heap: 7 }), r.err);
  });

  it("the CLI (`memstats show`): the reader's flags; a refusal is one line with its code", () => {
    const cache = `${work}/cache-cli`;
    const ok = deno(READ_PREBUILT, [`${npm}/src/cli/main.ts`, "show", name], cache);
    assert.equal(ok.status, 0, ok.err);
    assert.match(ok.out, /perm/);
    const r = deno(READ_PREBUILT.slice(1), [`${npm}/src/cli/main.ts`, "show", name], cache);
    assert.equal(r.status, 1);
    assert.equal(r.err.split("\n").length, 1, r.err);
    assert.match(r.err, /^memstats show: Deno refused .*run again with --allow-ffi.* \[PERMISSION\]$/);
  });

  // serve also watches /dev/shm/<name> with node:fs, which Deno grants for device paths only with -A.
  it("`memstats serve`: without --allow-net the refusal names it; with -A it serves", async () => {
    const cache = `${work}/cache-serve`;
    const port = 20000 + Math.floor(Math.random() * 30000);
    const denied = deno(
      READ_PREBUILT,
      [`${npm}/src/cli/main.ts`, "serve", name, "--port", String(port)],
      cache,
    );
    assert.equal(denied.status, 1);
    assert.match(
      denied.err,
      new RegExp(`run again with --allow-net=127\\.0\\.0\\.1:${port}.*\\[PERMISSION\\]$`),
    );
    mkdirSync(cache, { recursive: true });
    const env = { ...process.env, XDG_CACHE_HOME: cache };
    const p = spawn(runtimeBin("deno"), [
      "run",
      "--no-prompt",
      "-A",
      `${npm}/src/cli/main.ts`,
      "serve",
      name,
      "--port",
      String(port),
    ], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    p.stderr.on("data", (d) => (stderr += d));
    try {
      let body = "";
      for (let i = 0; i < 100 && !body; i++) {
        try {
          body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      assert.match(body, /memstats_slot_value\{[^}]*label="perm"[^}]*\} 7/, stderr);
    } finally {
      p.kill("SIGTERM");
      await new Promise((r) => p.on("close", r));
    }
  });
});
