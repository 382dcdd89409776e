/**
 * Other users and bad names: segments are private (0600) unless a mode is
 * asked for; another user is refused by the kernel (EACCES); a segment
 * another user owns is refused by default even when its mode would let us
 * read it; bad names never reach a system call.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
} from "node:fs";
import process from "node:process";
import { MemoryStatsRegistry } from "../mod.ts";
import { shim } from "../src/ffi/mod.ts";
import { CHILD_RUNTIMES, cleanup, HERE, ROOT, runFile, uniqueName } from "./helpers.ts";
import { asNobody, NOBODY, nobodyArgs, nobodyProblem, removeNobodyStage } from "./fixtures/nobody.ts";

const TRY = `${ROOT}tests/fixtures/try_open.ts`;

function fstatMode(name: string): number {
  const fd = openSync(`/dev/shm${name}`, "r");
  try {
    return fstatSync(fd).mode & 0o7777;
  } finally {
    closeSync(fd);
  }
}

const NOBODY_SKIP = nobodyProblem();

describe("security", () => {
  after(() => {
    removeNobodyStage();
  });

  it("segments are created 0600 unless a mode is given, whatever the umask (fstat)", () => {
    const old = process.umask(0o000);
    try {
      for (
        const [umask, mode, want] of [
          [0o000, undefined, 0o600],
          [0o022, undefined, 0o600],
          [0o077, 0o640, 0o640],
          [0o077, 0o666, 0o666],
          [0o000, 0o400, 0o400],
        ] as [number, number | undefined, number][]
      ) {
        process.umask(umask);
        const name = uniqueName("mode");
        try {
          const r = MemoryStatsRegistry.open(name, mode === undefined ? {} : { mode });
          assert.ok(r.created);
          assert.equal(fstatMode(name), want, `umask ${umask.toString(8)} mode ${mode?.toString(8)}`);
          assert.equal(r.info.file.mode, want);
          r.close();
        } finally {
          cleanup(name);
        }
      }
    } finally {
      process.umask(old);
    }
  });

  it("names with '/' inside, '..', or over the limit are refused before any system call: the shim is never loaded", () => {
    const env = { MEMSTATS_SHIM_PATH: "/nonexistent/libmemstats_shim.so" }; // loading it would fail with SHIM
    for (const bad of ["/a/b", "/..", "/.", "/" + "x".repeat(251), "noslash", "/a b"]) {
      for (const action of ["", "unlink"]) {
        const r = runFile(HERE, TRY, [bad, "{}", action], env);
        const msg = JSON.parse(r.stdout.trim().split("\n").pop() || "{}");
        assert.equal(
          msg.code,
          "INVALID_NAME",
          `${JSON.stringify(bad)} ${action || "open"}: ${r.stdout} ${r.stderr}`,
        );
      }
    }
    const good = JSON.parse(runFile(HERE, TRY, [uniqueName("ok"), "{}"], env).stdout.trim());
    assert.equal(good.code, "SHIM", "a valid name does reach the shim");
    // Not a count of /dev/shm: other test runs share it.
    for (const f of ["a", "..", ".", "x".repeat(251), "noslash", "a b"]) {
      if (f !== "." && f !== "..") assert.equal(existsSync(`/dev/shm/${f}`), false, f);
    }
  });

  for (const rt of CHILD_RUNTIMES) {
    it(`${rt} running as another user (nobody) is refused with EACCES by a 0600 segment`, {
      skip: NOBODY_SKIP,
    }, () => {
      const name = uniqueName("private");
      const reg = MemoryStatsRegistry.open(name);
      try {
        reg.registerSlot()!.set(42);
        for (
          const options of [{ readOnly: true }, {}, { create: false }, {
            readOnly: true,
            allowForeignOwner: true,
          }]
        ) {
          const m = asNobody(rt, name, options);
          assert.equal(m.ok, false, JSON.stringify(options));
          assert.equal(m.code, "EACCES", `${JSON.stringify(options)}: ${m.message}`);
          assert.match(m.message, /permission denied/);
        }
        assert.equal(reg.aggregateStats().totalArenaBytes, 42, "untouched");
      } finally {
        reg.close();
        cleanup(name);
      }
    });

    it(
      `${rt} as nobody: our 0644 segment is refused by default (foreign owner), readable only with allowForeignOwner, never writable`,
      {
        skip: NOBODY_SKIP,
      },
      () => {
        const name = uniqueName("shared");
        const reg = MemoryStatsRegistry.open(name, { mode: 0o644 });
        try {
          reg.registerSlot()!.set(42);
          const refused = asNobody(rt, name, { readOnly: true });
          assert.equal(refused.code, "EACCES");
          assert.match(refused.message, /belongs to uid 0/);
          const allowed = asNobody(rt, name, { readOnly: true, allowForeignOwner: true });
          assert.equal(allowed.ok, true, allowed.message);
          assert.equal(allowed.total, 42);
          const write = asNobody(rt, name, { allowForeignOwner: true });
          assert.equal(write.code, "EACCES", "the mode gives others no write access");
        } finally {
          reg.close();
          cleanup(name);
        }
      },
    );
  }

  it(
    `a segment created by another user (nobody, mode 0644) is refused by default, even to root; allowed explicitly`,
    {
      skip: NOBODY_SKIP,
    },
    () => {
      const name = uniqueName("theirs");
      try {
        const made = asNobody(HERE === "bun" ? "deno" : "bun", name, { mode: 0o644 }, "register", "7");
        assert.equal(made.ok, true, made.message);
        assert.equal(made.created, true);
        assert.equal(fstatMode(name), 0o644);
        for (const options of [{ readOnly: true }, {}, { create: false }]) {
          assert.throws(() => MemoryStatsRegistry.open(name, options), (e: Error & { code?: string }) => {
            assert.equal(e.code, "EACCES");
            assert.match(e.message, /belongs to uid 65534/);
            return true;
          });
        }
        const r = MemoryStatsRegistry.open(name, { readOnly: true, allowForeignOwner: true });
        assert.equal(r.info.file.uid, NOBODY);
        assert.equal(r.aggregateStats().activeThreads, 0, "its writer exited and released its slot");
        r.close();
      } finally {
        cleanup(name);
      }
    },
  );

  // Without HOME the cache is $TMPDIR/memstats-shm-<uid>, which another local user can create first
  // and fill: src/ffi/locate.ts checks the directory and the library (ours, not group/world-writable)
  // before loading a cached shim.
  it("a shim planted by another user in a shared cache directory is refused", { skip: NOBODY_SKIP }, () => {
    const tmp = mkdtempSync("/tmp/memstats-planted-");
    try {
      chmodSync(tmp, 0o1777);
      const dir = `${tmp}/memstats-shm-${NOBODY}`; // made by us (root), not by nobody
      mkdirSync(dir, { mode: 0o777 });
      chmodSync(dir, 0o777);
      copyFileSync(shim().path, `${dir}/${shim().path.split("/").pop()}`);
      const [cmd, argv] = nobodyArgs("bun", [uniqueName("planted"), "{}", "unlink"]);
      const r = spawnSync("runuser", [
        "-u",
        "nobody",
        "--",
        "env",
        "-u",
        "HOME",
        `TMPDIR=${tmp}`,
        "MEMSTATS_SHIM_PREBUILT=0", // the cache, not the repository's prebuilt library
        cmd,
        ...argv,
      ], {
        encoding: "utf8",
        timeout: 60_000,
      });
      const msg = JSON.parse(r.stdout.trim().split("\n").pop() || "{}");
      assert.equal(msg.code, "SHIM", `the planted library was loaded: ${r.stdout} ${r.stderr}`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
