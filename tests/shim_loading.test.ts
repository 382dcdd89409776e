/**
 * Loading only what cannot be swapped (docs/SECURITY.md, "The native
 * library"): a symbolic link swapped into the cache is never loaded, a
 * library owned by another user is refused, `MEMSTATS_SHIM_PATH` gets the
 * same owner and mode checks, and without HOME the cache in a shared
 * `$TMPDIR` is private and refused when another user created it first.
 *
 * "Loaded" is observed directly: the planted library's constructor creates a
 * marker file the moment `dlopen` maps it, whatever happens after.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { cachedLibraryName } from "../src/ffi/locate.ts";
import { CHILD_RUNTIMES, ROOT, type Runtime, runtimeBin, RUNTIMES, uniqueName } from "./helpers.ts";

const PROBE = `${ROOT}tests/fixtures/open_default.ts`;
const NOBODY = 65534;
const work = mkdtempSync(`${tmpdir()}/memstats-trust-`);
chmodSync(work, 0o755); // user nobody reads the good library from here
after(() => rmSync(work, { recursive: true, force: true }));

/** A real shim library of ours, to copy around. */
const GOOD = `${work}/good.so`;
const EVIL = `${work}/evil.so`;
const MARKER = `${work}/EVIL-WAS-LOADED`;

const CC_PROBLEM = spawnSync("cc", ["--version"]).error
  ? "no C compiler (cc) to build the planted library"
  : undefined;
if (!CC_PROBLEM) {
  const built = spawnSync("cc", [
    "-O2",
    "-shared",
    "-fPIC",
    "-o",
    GOOD,
    `${ROOT}native/memstats_shim.c`,
    "-lrt",
  ]);
  assert.equal(built.status, 0, String(built.stderr));
  writeFileSync(
    `${work}/evil.c`,
    `#include <fcntl.h>\n#include <unistd.h>\n__attribute__((constructor)) static void planted(void) {\n` +
      `  int fd = open("${MARKER}", O_CREAT | O_WRONLY, 0644);\n  if (fd >= 0) close(fd);\n}\n` +
      `int ms_abi(void) { return 2; }\n`,
  );
  assert.equal(spawnSync("cc", ["-shared", "-fPIC", "-o", EVIL, `${work}/evil.c`]).status, 0);
}

function nobodyProblem(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root to act as another user";
  if (spawnSync("runuser", ["--help"]).error) return "runuser is not installed";
  if (spawnSync("runuser", ["-u", "nobody", "--", "true"]).status !== 0) {
    return "user nobody cannot run commands";
  }
  return CC_PROBLEM;
}
const NOBODY_SKIP = nobodyProblem();

/** Run the probe with exactly `env` (plus PATH and the Deno cache); returns its one line. */
function probe(rt: Runtime, env: Record<string, string>): string {
  const base: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", NO_COLOR: "1" };
  if (process.env.DENO_DIR) base.DENO_DIR = process.env.DENO_DIR;
  else if (process.env.HOME) base.DENO_DIR = `${process.env.HOME}/.cache/deno`;
  const argv = rt === "deno" ? ["run", "-A", PROBE, uniqueName("trust")] : [PROBE, uniqueName("trust")];
  // `env -i`: exactly this environment (Deno's spawnSync adds the parent's to the one it is given).
  const vars = Object.entries({ ...base, ...env }).map(([k, v]) => `${k}=${v}`);
  const r = spawnSync("env", ["-i", ...vars, runtimeBin(rt), ...argv], { encoding: "utf8", timeout: 60_000 });
  return (r.stdout.trim() || r.stderr.trim()).split("\n").pop() ?? "";
}

/** A private cache (as XDG_CACHE_HOME) whose shim directory already holds our good library. */
function primedCache(): { home: string; lib: string } {
  const home = mkdtempSync(`${work}/cache-`);
  mkdirSync(`${home}/memstats-shm`, { mode: 0o700 });
  const lib = `${home}/memstats-shm/${cachedLibraryName()}`;
  copyFileSync(GOOD, lib);
  chmodSync(lib, 0o500);
  return { home, lib };
}

describe("loading the native shim only from what cannot be swapped", { skip: CC_PROBLEM }, () => {
  it("a symbolic link in the cache is refused, never followed", () => {
    const { home, lib } = primedCache();
    rmSync(lib);
    symlinkSync(EVIL, lib);
    for (const rt of CHILD_RUNTIMES) {
      const out = probe(rt, { XDG_CACHE_HOME: home, MEMSTATS_SHIM_PREBUILT: "0" });
      assert.match(out, /^SHIM the cached shim .* is a symbolic link, refused/, rt);
    }
    assert.equal(existsSync(MARKER), false, "the planted library was loaded");
  });

  it("a symbolic link swapped in and out of the cache while processes load it is never loaded", () => {
    const { home, lib } = primedCache();
    const good = `${work}/good-hardlink-${process.pid}.so`;
    copyFileSync(GOOD, good);
    chmodSync(good, 0o500);
    // Rename a symlink to the planted library and a hard link of the good one over the
    // cached name, back and forth, as fast as a shell can.
    const d = `${home}/memstats-shm`;
    const swapper = spawn("sh", [
      "-c",
      `while :; do ln -sf '${EVIL}' '${d}/a' && mv -fT '${d}/a' '${lib}'; ` +
      `ln -f '${good}' '${d}/b' && mv -fT '${d}/b' '${lib}'; done`,
    ], { stdio: "ignore" });
    const seen = new Map<string, number>();
    try {
      for (let i = 0; i < 30; i++) {
        const out = probe(RUNTIMES[i % RUNTIMES.length], {
          XDG_CACHE_HOME: home,
          MEMSTATS_SHIM_PREBUILT: "0",
        });
        const kind = out === "OK" ? "OK" : out.replace(/ \/.*$/, "");
        seen.set(kind, (seen.get(kind) ?? 0) + 1);
        assert.match(out, /^(OK|SHIM the cached shim .* is a symbolic link, refused.*)$/, out);
        assert.equal(existsSync(MARKER), false, `the planted library was loaded (run ${i})`);
      }
    } finally {
      swapper.kill("SIGKILL");
    }
    assert.ok((seen.get("OK") ?? 0) > 0, `never loaded the good library: ${JSON.stringify([...seen])}`);
  });

  it("MEMSTATS_SHIM_PATH: a group- or world-writable library is refused; a symlink to a good one loads it", () => {
    const dir = mkdtempSync(`${work}/path-`);
    const lib = `${dir}/lib.so`;
    copyFileSync(GOOD, lib);
    for (const mode of [0o664, 0o646]) {
      chmodSync(lib, mode);
      const out = probe("bun", { MEMSTATS_SHIM_PATH: lib });
      assert.match(out, /^SHIM MEMSTATS_SHIM_PATH .* is writable by other users \(mode 6[46]{2}\)/, out);
    }
    chmodSync(lib, 0o755);
    symlinkSync(lib, `${dir}/link.so`);
    assert.equal(probe("deno", { MEMSTATS_SHIM_PATH: `${dir}/link.so` }), "OK");
    assert.equal(probe("bun", { MEMSTATS_SHIM_PATH: `${dir}/link.so` }), "OK");
    assert.equal(probe("node", { MEMSTATS_SHIM_PATH: `${dir}/link.so` }), "OK");
  });

  it(
    "a library owned by another user is refused (MEMSTATS_SHIM_PATH and the cache)",
    { skip: NOBODY_SKIP },
    () => {
      const dir = mkdtempSync(`${work}/nobody-`);
      chmodSync(dir, 0o777);
      // nobody makes the file: it is theirs, whatever its mode.
      const r = spawnSync("runuser", ["-u", "nobody", "--", "cp", GOOD, `${dir}/theirs.so`]);
      assert.equal(r.status, 0, String(r.stderr));
      chmodSync(`${dir}/theirs.so`, 0o755);
      assert.equal(statSync(`${dir}/theirs.so`).uid, NOBODY);
      for (const rt of CHILD_RUNTIMES) {
        const out = probe(rt, { MEMSTATS_SHIM_PATH: `${dir}/theirs.so` });
        assert.match(
          out,
          new RegExp(`^SHIM MEMSTATS_SHIM_PATH .* belongs to uid ${NOBODY}, neither root nor you`),
          rt,
        );
      }
      const { home, lib } = primedCache();
      chownSync(lib, NOBODY, NOBODY);
      const cached = probe("bun", { XDG_CACHE_HOME: home, MEMSTATS_SHIM_PREBUILT: "0" });
      assert.match(cached, new RegExp(`^SHIM the cached shim .* belongs to uid ${NOBODY}`));
    },
  );

  it("without HOME the cache is a private directory in $TMPDIR, created 0700", () => {
    const tmp = mkdtempSync(`${work}/tmpdir-`);
    chmodSync(tmp, 0o1777);
    const env = { TMPDIR: tmp, MEMSTATS_SHIM_PREBUILT: "0" };
    assert.equal(probe("bun", env), "OK");
    const dir = `${tmp}/memstats-shm-${process.getuid?.()}`;
    const st = statSync(dir);
    assert.equal(st.mode & 0o777, 0o700);
    assert.equal(st.uid, process.getuid?.());
    assert.ok(existsSync(`${dir}/${cachedLibraryName()}`), "built into it");
  });

  it("without HOME, a cache directory another user created first is refused, naming that user", {
    skip: NOBODY_SKIP,
  }, () => {
    const tmp = mkdtempSync(`${work}/squat-`);
    chmodSync(tmp, 0o1777);
    const dir = `${tmp}/memstats-shm-${process.getuid?.()}`;
    const env = { TMPDIR: tmp, MEMSTATS_SHIM_PREBUILT: "0" };
    // A directory of theirs, even a private one.
    assert.equal(spawnSync("runuser", ["-u", "nobody", "--", "mkdir", "-m", "700", dir]).status, 0);
    for (const rt of CHILD_RUNTIMES) {
      const out = probe(rt, env);
      assert.match(
        out,
        new RegExp(`^SHIM the shim cache directory ${dir} belongs to uid ${NOBODY}, not to you`),
        rt,
      );
      assert.match(
        out,
        /another user created it first; ask that user or root to remove it, or set XDG_CACHE_HOME/,
      );
    }
    // A symbolic link of theirs to a directory of ours is refused too, not followed.
    rmSync(dir, { recursive: true });
    const ours = mkdtempSync(`${work}/ours-`);
    assert.equal(spawnSync("runuser", ["-u", "nobody", "--", "ln", "-s", ours, dir]).status, 0);
    assert.match(probe("bun", env), /^SHIM the shim cache directory .* is a symbolic link, refused/);
    assert.equal(readlinkSync(dir), ours);
  });

  it("the descriptor a library is checked through is the one loaded (/proc/self/fd names it)", () => {
    // Bun, Deno and Node hand out operating-system descriptors from node:fs; the loader relies on it.
    const lib = `${work}/fd-check.so`;
    copyFileSync(GOOD, lib);
    const r = spawnSync(runtimeBin("bun"), [
      "-e",
      `const fs = require("node:fs"); const fd = fs.openSync(${JSON.stringify(lib)}, "r"); ` +
      `console.log(fs.readlinkSync("/proc/self/fd/" + fd));`,
    ], { encoding: "utf8" });
    assert.equal(r.stdout.trim(), lib);
    const d = spawnSync(runtimeBin("deno"), [
      "eval",
      `import fs from "node:fs"; const fd = fs.openSync(${JSON.stringify(lib)}, "r"); ` +
      `console.log(fs.readlinkSync("/proc/self/fd/" + fd));`,
    ], { encoding: "utf8" });
    assert.equal(d.stdout.trim(), lib);
  });
});
