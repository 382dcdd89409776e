/**
 * The real artifacts: the npm tarball installed into a scratch project with
 * no access to the source tree (imported from Bun, Deno and Node, and its
 * `memstats` bin, also with Node alone on PATH and under a Node too old for
 * FFI), and the JSR file set run from a bare copy that must build the shim
 * itself. Also: one version everywhere.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter } from "node:path";
import process from "node:process";
import { platformTag } from "../src/ffi/prebuilt.ts";
import { cleanup, onlyUnder, ROOT, runtimeBin, uniqueName } from "./helpers.ts";

function sh(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, MEMSTATS_SHIM_PATH: "", ...opts.env },
    encoding: "utf8",
    timeout: 300_000,
  });
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.status, 0, `${what} failed (${r.status} ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** A script that registers, updates, reads and removes its segment, from whatever specifier it is given. */
function useScript(specifier: string): string {
  return `import process from "node:process";
import { MemoryStatsRegistry } from "${specifier}";
const name = process.argv[2];
const reg = MemoryStatsRegistry.open(name, { fields: ["heap", "rss"] });
const slot = reg.registerSlot({ label: "from-package" });
slot.update({ heap: 123, rss: 456 });
const t = [...reg.perThreadStats()][0];
console.log(JSON.stringify({ total: reg.aggregateStats().totals, label: t.label }));
if (process.argv[3] === "--hold") setInterval(() => {}, 1 << 30);
else { reg.close(); MemoryStatsRegistry.unlink(name); }
`;
}

/** A script that opens a registry and prints `{ ok }` or the error it got, as try_open.ts does. */
const TRY_SCRIPT = `import process from "node:process";
import { MemoryStatsRegistry, MemstatsError } from "@memstats/shm";
try {
  MemoryStatsRegistry.open(process.argv[2]).close();
  MemoryStatsRegistry.unlink(process.argv[2]);
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, mstats: e instanceof MemstatsError, code: e.code, message: e.message }));
}
`;

/** A \`node\` older than 26 on PATH or in the usual places (the system's), or undefined. */
function oldNode(): { bin: string; version: string } | undefined {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/bin", "/usr/local/bin"];
  for (const dir of dirs.filter((d) => d !== "" && !d.includes("node_modules"))) {
    const bin = `${dir}/node`;
    if (!existsSync(bin)) continue;
    const version = spawnSync(bin, ["--version"], { encoding: "utf8" }).stdout?.trim() ?? "";
    const major = Number(/^v(\d+)\./.exec(version)?.[1]);
    if (major > 0 && major < 26) return { bin, version };
  }
  return undefined;
}
const OLD_NODE = oldNode();

/** Files the JSR package ships, from deno.json's publish.include. */
function jsrFiles(): string[] {
  const cfg = JSON.parse(readFileSync(`${ROOT}deno.json`, "utf8"));
  return cfg.publish.include as string[];
}

// Packaging starts every runtime itself: one runner is enough.
const ELSEWHERE = onlyUnder("node");

describe("packaging", () => {
  if (ELSEWHERE) {
    it("packaging", { skip: ELSEWHERE }, () => {});
    return;
  }
  const work = mkdtempSync(`${tmpdir()}/memstats-pkg-`);
  const scratch = `${work}/app`;
  const emptyCache = `${work}/cache`;
  let tarball = "";

  before(() => {
    ok(sh(runtimeBin("bun"), ["scripts/build_npm.ts"]), "build_npm");
    const packed = ok(
      sh("npm", ["pack", "--pack-destination", work], { cwd: `${ROOT}dist/npm` }),
      "npm pack",
    );
    tarball = `${work}/${packed.trim().split("\n").pop()}`;
    mkdirSync(scratch);
    mkdirSync(emptyCache);
    writeFileSync(
      `${scratch}/package.json`,
      JSON.stringify({ name: "scratch", private: true, type: "module" }),
    );
    ok(
      sh("npm", ["install", "--offline", "--no-audit", "--no-fund", tarball], { cwd: scratch }),
      "npm install tarball",
    );
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it("one version: deno.json, package.json, the built package and CHANGELOG.md agree", () => {
    const v = JSON.parse(readFileSync(`${ROOT}deno.json`, "utf8")).version;
    assert.match(v, /^\d+\.\d+\.\d+/);
    assert.equal(JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")).version, v);
    assert.equal(JSON.parse(readFileSync(`${ROOT}dist/npm/package.json`, "utf8")).version, v);
    assert.equal(
      JSON.parse(readFileSync(`${scratch}/node_modules/@memstats/shm/package.json`, "utf8")).version,
      v,
    );
    assert.match(
      readFileSync(`${ROOT}CHANGELOG.md`, "utf8"),
      new RegExp(`^## ${v.replaceAll(".", "\\.")}$`, "m"),
    );
  });

  it("npm pack lists only what a user needs", () => {
    const list = JSON.parse(
      ok(sh("npm", ["pack", "--dry-run", "--json"], { cwd: `${ROOT}dist/npm` }), "pack --dry-run"),
    );
    const files: string[] = list[0].files.map((f: { path: string }) => f.path);
    const allowed =
      /^(mod\.(js|d\.ts)|src\/.+\.(js|d\.ts)|bin\/memstats\.js|native\/memstats_shim\.c|native\/prebuilt\/linux-(x64|arm64)-(glibc|musl)\/(libmemstats_shim\.so|build\.json)|README\.md|LICENSE|CHANGELOG\.md|package\.json)$/;
    for (const f of files) assert.match(f, allowed, `unexpected file in the package: ${f}`);
    const prebuilt = ["x64-glibc", "x64-musl", "arm64-glibc", "arm64-musl"].flatMap((t) =>
      ["libmemstats_shim.so", "build.json"].map((f) => `native/prebuilt/linux-${t}/${f}`)
    );
    for (
      const need of [
        "mod.js",
        "mod.d.ts",
        "bin/memstats.js",
        "native/memstats_shim.c",
        "package.json",
        ...prebuilt,
      ]
    ) {
      assert.ok(files.includes(need), `missing ${need}`);
    }
    const manifest = JSON.parse(readFileSync(`${ROOT}dist/npm/package.json`, "utf8"));
    assert.deepEqual(Object.keys(manifest.exports["."]), ["types", "bun", "deno", "import", "default"]);
    assert.equal(manifest.exports["./prom-client"].import, "./src/prom_client.js");
    assert.deepEqual(manifest.peerDependenciesMeta["prom-client"], { optional: true });
    assert.equal(manifest.bin.memstats, "./bin/memstats.js");
    assert.match(readFileSync(`${ROOT}dist/npm/bin/memstats.js`, "utf8"), /^#!\/usr\/bin\/env node\n/);
  });

  it("the installed package works under Bun with the prebuilt shim (nothing compiled)", () => {
    writeFileSync(`${scratch}/use_bun.ts`, useScript("@memstats/shm"));
    const name = uniqueName("npm-bun");
    const out = ok(
      sh(runtimeBin("bun"), ["use_bun.ts", name], { cwd: scratch, env: { XDG_CACHE_HOME: emptyCache } }),
      "bun",
    );
    assert.deepEqual(JSON.parse(out), { total: { heap: 123, rss: 456 }, label: "from-package" });
    assert.equal(existsSync(`${emptyCache}/memstats-shm`), false, "the verified prebuilt library was used");
  });

  it("the installed package works under Node 26 with the prebuilt shim, and its bin runs with only Node on PATH", async () => {
    writeFileSync(`${scratch}/use_node.mjs`, useScript("@memstats/shm"));
    const name = uniqueName("npm-node");
    const out = ok(
      sh(runtimeBin("node"), ["use_node.mjs", name], { cwd: scratch, env: { XDG_CACHE_HOME: emptyCache } }),
      "node",
    );
    assert.deepEqual(JSON.parse(out), { total: { heap: 123, rss: 456 }, label: "from-package" });
    assert.equal(existsSync(`${emptyCache}/memstats-shm`), false, "the verified prebuilt library was used");
    // A PATH with Node 26 and the system's tools, but neither Bun nor Deno.
    const only = `${work}/node-only`;
    mkdirSync(only, { recursive: true });
    symlinkSync(realpathSync(runtimeBin("node")), `${only}/node`);
    const path = `${only}:/usr/bin:/bin`;
    const which = sh("sh", ["-c", "command -v bun || command -v deno"], { env: { PATH: path } });
    assert.notEqual(which.status, 0, `expected no bun or deno on ${path}: ${which.stdout}`);
    const held = uniqueName("npm-node-bin");
    const writer = spawn(runtimeBin("node"), ["use_node.mjs", held, "--hold"], {
      cwd: scratch,
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      await new Promise((resolve) => writer.stdout!.once("data", resolve));
      const bin = `${scratch}/node_modules/.bin/memstats`;
      const env = { PATH: path, XDG_CACHE_HOME: emptyCache };
      const show = sh(bin, ["show", held], { cwd: scratch, env });
      assert.equal(show.status, 0, show.stderr);
      assert.match(show.stdout, /from-package/);
      assert.equal(show.stderr, "", "no warning");
      const missing = sh(bin, ["show", uniqueName("none")], { cwd: scratch, env });
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /^memstats show: .*\[NOT_FOUND\]\n$/);
    } finally {
      writer.kill("SIGKILL");
      cleanup(held);
    }
  });

  it("under Node older than 26, opening a registry and the bin fail with one SHIM error naming Node.js 26", {
    skip: OLD_NODE ? false : "no Node older than 26 on this machine",
  }, () => {
    const old = OLD_NODE!;
    writeFileSync(`${scratch}/try_old.mjs`, TRY_SCRIPT);
    const name = uniqueName("old-node");
    const r = sh(old.bin, ["try_old.mjs", name], { cwd: scratch });
    const answer = JSON.parse(ok(r, `${old.bin} ${old.version}`));
    assert.equal(answer.ok, false);
    assert.equal(answer.mstats, true, "a MemstatsError");
    assert.equal(answer.code, "SHIM");
    assert.match(answer.message, /needs Node\.js 26 or newer/);
    assert.ok(answer.message.includes(old.version.slice(1)), answer.message);
    assert.equal(r.stderr, "", "no warning, no stack trace");
    assert.equal(existsSync(`/dev/shm${name}`), false, "nothing was created");
    const dir = `${work}/old-node`;
    mkdirSync(dir, { recursive: true });
    symlinkSync(realpathSync(old.bin), `${dir}/node`);
    const cli = sh(`${scratch}/node_modules/.bin/memstats`, ["show", name], {
      cwd: scratch,
      env: { PATH: `${dir}:/usr/bin:/bin` },
    });
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /^memstats show: memstats-shm needs Node\.js 26 or newer .*\[SHIM\]\n$/);
  });

  it("a prebuilt library whose bytes or source hash do not match is never loaded", () => {
    const pre = `${scratch}/node_modules/@memstats/shm/native/prebuilt/${platformTag()}`;
    const stamp = readFileSync(`${pre}/build.json`, "utf8");
    const cache = `${work}/tamper-cache`;
    writeFileSync(`${scratch}/use_tamper.ts`, useScript("@memstats/shm"));
    try {
      for (
        const [what, edit] of [
          ["library bytes", (j: Record<string, string>) => ({ ...j, libSha256: "0".repeat(64) })],
          ["source hash", (j: Record<string, string>) => ({ ...j, sourceSha256: "f".repeat(64) })],
        ] as const
      ) {
        rmSync(cache, { recursive: true, force: true });
        writeFileSync(`${pre}/build.json`, JSON.stringify(edit(JSON.parse(stamp))));
        const r = sh(runtimeBin("bun"), ["use_tamper.ts", uniqueName("tamper")], {
          cwd: scratch,
          env: { XDG_CACHE_HOME: cache },
        });
        assert.equal(JSON.parse(ok(r, what)).label, "from-package");
        assert.equal(
          readdirSync(`${cache}/memstats-shm`).length,
          1,
          `${what} mismatch: built from source instead`,
        );
      }
    } finally {
      writeFileSync(`${pre}/build.json`, stamp);
    }
  });

  it("deno lint (recommended + jsr), deno fmt --check and deno doc --lint pass", () => {
    const env = { NO_COLOR: "1" };
    ok(sh(runtimeBin("deno"), ["lint"], { env }), "deno lint");
    ok(sh(runtimeBin("deno"), ["fmt", "--check"], { env }), "deno fmt --check");
    ok(
      sh(runtimeBin("deno"), ["doc", "--lint", "mod.ts", "src/cli/main.ts", "src/prom_client.ts"], { env }),
      "deno doc --lint",
    );
  });

  it("deno publish --dry-run is clean (no slow types, no warnings)", () => {
    const r = sh(runtimeBin("deno"), ["publish", "--dry-run", "--allow-dirty"], { env: { NO_COLOR: "1" } });
    const text = r.stdout + r.stderr;
    assert.equal(r.status, 0, text);
    assert.doesNotMatch(text, /^\s*(warning|error)\b/im, text);
    assert.match(text, /Dry run complete/);
  });

  it("the installed package works under Deno, by bare specifier and by npm: specifier", () => {
    for (const spec of ["@memstats/shm", "npm:@memstats/shm"]) {
      writeFileSync(`${scratch}/use_deno.ts`, useScript(spec));
      const name = uniqueName("npm-deno");
      const r = sh(runtimeBin("deno"), ["run", "-A", "use_deno.ts", name], {
        cwd: scratch,
        env: { XDG_CACHE_HOME: emptyCache },
      });
      assert.deepEqual(JSON.parse(ok(r, `deno ${spec}`)), {
        total: { heap: 123, rss: 456 },
        label: "from-package",
      });
      cleanup(name);
    }
    assert.equal(existsSync(`${emptyCache}/memstats-shm`), false);
  });

  it("`memstats show` runs through the installed bin", {
    skip: existsSync(`${ROOT}src/cli/main.ts`) ? false : "no CLI yet",
  }, async () => {
    const name = uniqueName("npm-bin");
    writeFileSync(`${scratch}/hold.ts`, useScript("@memstats/shm"));
    const writer = spawn(runtimeBin("bun"), ["hold.ts", name, "--hold"], {
      cwd: scratch,
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      await new Promise((resolve) => writer.stdout!.once("data", resolve));
      const bin = `${scratch}/node_modules/.bin/memstats`;
      const env = { PATH: `${ROOT}node_modules/.bin:${process.env.PATH}` }; // `node` (26) for the shebang
      const r = sh(bin, ["show", name], { cwd: scratch, env });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /from-package/);
      assert.match(r.stdout, /heap/i);
      const missing = sh(bin, ["show", uniqueName("none")], { cwd: scratch, env });
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /NOT_FOUND/);
    } finally {
      writer.kill("SIGKILL");
      cleanup(name);
    }
  });

  it("the JSR file set, copied alone, builds the shim on first use and works in Deno and Bun", () => {
    const jsr = `${work}/jsr`;
    for (const f of jsrFiles()) cpSync(`${ROOT}${f}`, `${jsr}/${f}`, { recursive: true });
    assert.ok(
      !existsSync(`${jsr}/tests`) && !existsSync(`${jsr}/scripts`) && !existsSync(`${jsr}/node_modules`),
    );
    const cache = `${work}/jsr-cache`;
    writeFileSync(`${work}/use_jsr.ts`, useScript(`./jsr/mod.ts`));
    const name = uniqueName("jsr");
    const d = sh(runtimeBin("deno"), ["run", "-A", "--no-config", "use_jsr.ts", name], {
      cwd: work,
      env: { XDG_CACHE_HOME: cache },
    });
    assert.equal(JSON.parse(ok(d, "deno jsr copy")).label, "from-package");
    assert.equal(
      readdirSync(`${cache}/memstats-shm`).filter((f) => f.endsWith(".so")).length,
      1,
      "compiled once on first use",
    );
    const b = sh(runtimeBin("bun"), ["use_jsr.ts", uniqueName("jsr")], {
      cwd: work,
      env: { XDG_CACHE_HOME: cache },
    });
    assert.equal(JSON.parse(ok(b, "bun jsr copy")).label, "from-package");
    cleanup(name);
  });

  // A machine without a compiler: PATH without cc, CC unset, an empty cache, and nothing else in
  // the environment (`env -i`). The runtimes are named by absolute path.
  describe("without a C compiler", () => {
    const bare = `${work}/bare-path`;
    const cache = `${work}/nocc-cache`;
    /** The runtimes the npm package is tried from. */
    const NPM_RUNTIMES = [
      { name: "bun", argv: (f: string) => [runtimeBin("bun"), f] },
      { name: "deno", argv: (f: string) => [runtimeBin("deno"), "run", "-A", f] },
      { name: "node", argv: (f: string) => [runtimeBin("node"), f] },
    ];

    function bareRun(argv: string[], cwd: string, xdg: string): SpawnSyncReturns<string> {
      mkdirSync(bare, { recursive: true });
      const env = [`PATH=${bare}`, `XDG_CACHE_HOME=${xdg}`, `HOME=${process.env.HOME ?? work}`, "NO_COLOR=1"];
      if (process.env.DENO_DIR) env.push(`DENO_DIR=${process.env.DENO_DIR}`);
      return spawnSync("env", ["-i", ...env, ...argv], { cwd, encoding: "utf8", timeout: 300_000 });
    }

    it("there really is no compiler on that PATH", () => {
      const r = bareRun([runtimeBin("bun"), "-e", "console.log(Bun.which('cc') ?? 'none')"], work, cache);
      assert.equal(r.stdout.trim(), "none", r.stderr);
    });

    it("the npm package works from Bun, Deno (npm: specifier too) and Node with its prebuilt shim", () => {
      for (const rt of NPM_RUNTIMES) {
        for (const spec of rt.name === "deno" ? ["@memstats/shm", "npm:@memstats/shm"] : ["@memstats/shm"]) {
          writeFileSync(`${scratch}/use_bare.ts`, useScript(spec));
          const name = uniqueName(`bare-${rt.name}`);
          const r = bareRun(rt.argv("use_bare.ts").concat(name), scratch, cache);
          assert.deepEqual(JSON.parse(ok(r, `${rt.name} ${spec}`)), {
            total: { heap: 123, rss: 456 },
            label: "from-package",
          });
          cleanup(name);
        }
      }
      assert.equal(existsSync(`${cache}/memstats-shm`), false, "nothing built, nothing cached");
    });

    it("the JSR file set works from Deno (its embedded prebuilt, written to the cache)", () => {
      const jsr = `${work}/jsr-bare`;
      for (const f of jsrFiles()) cpSync(`${ROOT}${f}`, `${jsr}/${f}`, { recursive: true });
      writeFileSync(`${work}/use_jsr_bare.ts`, useScript("./jsr-bare/mod.ts"));
      const xdg = `${work}/jsr-bare-cache`;
      const r = bareRun(
        [runtimeBin("deno"), "run", "-A", "--no-config", "use_jsr_bare.ts", uniqueName("jsrb")],
        work,
        xdg,
      );
      assert.equal(JSON.parse(ok(r, "deno jsr, no compiler")).label, "from-package");
      assert.deepEqual(
        readdirSync(`${xdg}/memstats-shm`).map((f) => f.replace(/-[0-9a-f]{16}\.so$/, ".so")),
        [`libmemstats_shim-${platformTag()}.so`],
      );
    });

    it("the JSR file set works from Bun through TinyCC where no prebuilt matches", {
      skip: process.arch === "x64" ? false : "Bun's TinyCC path is x86-64 only",
    }, () => {
      const jsr = `${work}/jsr-tcc`;
      for (const f of jsrFiles()) cpSync(`${ROOT}${f}`, `${jsr}/${f}`, { recursive: true });
      // As on a platform the package has no prebuilt library for.
      writeFileSync(
        `${jsr}/src/ffi/prebuilt_embedded.ts`,
        readFileSync(`${jsr}/src/ffi/prebuilt_embedded.ts`, "utf8").replace(/= \{[\s\S]*\};\n$/, "= {};\n"),
      );
      writeFileSync(`${work}/use_jsr_tcc.ts`, useScript("./jsr-tcc/mod.ts"));
      const xdg = `${work}/jsr-tcc-cache`;
      const r = bareRun([runtimeBin("bun"), "use_jsr_tcc.ts", uniqueName("jsrt")], work, xdg);
      assert.deepEqual(JSON.parse(ok(r, "bun jsr through TinyCC")), {
        total: { heap: 123, rss: 456 },
        label: "from-package",
      });
      // Only the C source is cached: TinyCC compiles into memory.
      assert.deepEqual(readdirSync(`${xdg}/memstats-shm`).map((f) => f.replace(/[0-9a-f]{16}/, "*")), [
        "memstats_shim-*.c",
      ]);
      // Deno has no compiler of its own: it says so, naming what to do.
      const d = bareRun(
        [runtimeBin("deno"), "run", "-A", "--no-config", "use_jsr_tcc.ts", uniqueName("jsrd")],
        work,
        `${work}/jsr-tcc-deno`,
      );
      assert.notEqual(d.status, 0);
      assert.match(
        d.stderr,
        /no native shim could be found or built .*compiler: cc not found.*MEMSTATS_SHIM_PATH/,
      );
    });
  });
});
