/**
 * Every error code, produced from a real bad segment or a real bad call.
 * Each one is a MemstatsError with the right `code` and a message that names
 * the problem; nothing crashes and nothing is left half-made.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  chownSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { MemoryStatsRegistry, MemstatsError, type MemstatsErrorCode } from "../mod.ts";
import { H } from "../src/layout.ts";
import { cleanup, HERE, ROOT, runFile, uniqueName } from "./helpers.ts";

function throwsCode(fn: () => unknown, code: MemstatsErrorCode, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MemstatsError, `expected MemstatsError, got ${e}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

function shmPath(name: string): string {
  return `/dev/shm${name}`;
}

function pokeFile(name: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(shmPath(name), "r+");
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

describe("errors", () => {
  it("INVALID_NAME: refused before any system call", () => {
    for (
      const bad of ["noslash", "/a/b", "/..", "/.", "/", "/" + "x".repeat(251), "/sp ace", "", "/ünicode"]
    ) {
      throwsCode(() => MemoryStatsRegistry.open(bad), "INVALID_NAME", /segment name/);
    }
    throwsCode(() => MemoryStatsRegistry.open("noslash"), "INVALID_NAME", /try "\/noslash"/);
    throwsCode(() => MemoryStatsRegistry.open(42 as unknown as string), "INVALID_NAME");
    throwsCode(() => MemoryStatsRegistry.unlink("/a/b"), "INVALID_NAME");
    for (const made of ["noslash", "sp ace", "ünicode", "a"]) {
      assert.equal(existsSync(`/dev/shm/${made}`), false);
    }
    // The limit itself is fine.
    const longest = "/" + `z${process.pid}`.padEnd(250, "z");
    MemoryStatsRegistry.open(longest, { capacity: 1 }).close();
    assert.ok(MemoryStatsRegistry.unlink(longest));
  });

  it("NOT_FOUND: attaching a missing segment with create: false", () => {
    const name = uniqueName("missing");
    throwsCode(() => MemoryStatsRegistry.open(name, { create: false }), "NOT_FOUND", /does not exist/);
    throwsCode(() => MemoryStatsRegistry.open(name, { readOnly: true }), "NOT_FOUND");
    assert.equal(existsSync(shmPath(name)), false);
    assert.equal(MemoryStatsRegistry.unlink(name), false);
  });

  it("EACCES: a segment owned by another user is refused unless allowed", () => {
    const name = uniqueName("foreign");
    MemoryStatsRegistry.open(name, { mode: 0o644 }).close();
    try {
      chownSync(shmPath(name), 65534, 65534); // nobody; we run as root in CI
      throwsCode(() => MemoryStatsRegistry.open(name, { readOnly: true }), "EACCES", /belongs to uid 65534/);
      const r = MemoryStatsRegistry.open(name, { readOnly: true, allowForeignOwner: true });
      assert.equal(r.capacity, 64);
      r.close();
    } finally {
      cleanup(name);
    }
  });

  it("EACCES: a symbolic link in the shm directory is never followed", () => {
    const name = uniqueName("link");
    const target = uniqueName("target");
    MemoryStatsRegistry.open(target).close();
    try {
      symlinkSync(shmPath(target), shmPath(name));
      throwsCode(() => MemoryStatsRegistry.open(name, { create: false }), "EACCES", /symbolic link/);
    } finally {
      rmSync(shmPath(name), { force: true });
      cleanup(target);
    }
  });

  it("BAD_MAGIC: a file that is not a segment, and a directory", () => {
    const name = uniqueName("garbage");
    writeFileSync(shmPath(name), new Uint8Array(4096).fill(0xab));
    try {
      throwsCode(() => MemoryStatsRegistry.open(name), "BAD_MAGIC", /not a memstats segment/);
      throwsCode(() => MemoryStatsRegistry.open(name, { readOnly: true }), "BAD_MAGIC");
    } finally {
      cleanup(name);
    }
    const blank = uniqueName("blank");
    writeFileSync(shmPath(blank), new Uint8Array(4096));
    try {
      throwsCode(() => MemoryStatsRegistry.open(blank, { openTimeoutMs: 50 }), "BAD_MAGIC");
    } finally {
      cleanup(blank);
    }
  });

  it("VERSION: a segment of a newer layout major", () => {
    const name = uniqueName("v2");
    MemoryStatsRegistry.open(name).close();
    try {
      pokeFile(name, H.versionMajor, new Uint8Array([2, 0]));
      throwsCode(() => MemoryStatsRegistry.open(name), "VERSION", /layout 2\.\d.*upgrade/);
    } finally {
      cleanup(name);
    }
  });

  it("TRUNCATED: a file smaller than its header says, or empty", () => {
    const name = uniqueName("trunc");
    MemoryStatsRegistry.open(name, { capacity: 8 }).close();
    try {
      truncateSync(shmPath(name), 1000);
      throwsCode(() => MemoryStatsRegistry.open(name), "TRUNCATED", /truncated/);
      truncateSync(shmPath(name), 64);
      throwsCode(() => MemoryStatsRegistry.open(name, { readOnly: true }), "TRUNCATED", /smaller than/);
      truncateSync(shmPath(name), 0);
      throwsCode(() => MemoryStatsRegistry.open(name, { openTimeoutMs: 50 }), "TRUNCATED", /memstats rm/);
    } finally {
      cleanup(name);
    }
  });

  it("TRUNCATED: a header never published (its creator died while initialising)", () => {
    const name = uniqueName("unready");
    MemoryStatsRegistry.open(name).close();
    try {
      pokeFile(name, H.state, new Uint8Array(4));
      throwsCode(() => MemoryStatsRegistry.open(name, { openTimeoutMs: 50 }), "TRUNCATED", /never finished/);
    } finally {
      cleanup(name);
    }
  });

  it("SCHEMA: attaching with another capacity or fields, or asking for invalid ones", () => {
    const name = uniqueName("schema");
    MemoryStatsRegistry.open(name, { capacity: 8, fields: ["a", "b"] }).close();
    try {
      throwsCode(() => MemoryStatsRegistry.open(name, { capacity: 16 }), "SCHEMA", /capacity 8, not 16/);
      throwsCode(() => MemoryStatsRegistry.open(name, { fields: ["a"] }), "SCHEMA", /fields \[a, b\]/);
      const ok = MemoryStatsRegistry.open(name, { capacity: 8, fields: ["a", "b"] });
      assert.deepEqual(ok.fields, ["a", "b"]);
      ok.close();
      // A refused attach leaves no mapping behind.
      for (let i = 0; i < 5; i++) throwsCode(() => MemoryStatsRegistry.open(name, { capacity: 9 }), "SCHEMA");
      assert.equal(
        readFileSync("/proc/self/maps", "utf8").split("\n").filter((l) => l.endsWith(`/dev/shm${name}`))
          .length,
        0,
      );
    } finally {
      cleanup(name);
    }
    const fresh = uniqueName("schema2");
    throwsCode(() => MemoryStatsRegistry.open(fresh, { capacity: 0 }), "SCHEMA");
    throwsCode(() => MemoryStatsRegistry.open(fresh, { capacity: 1.5 }), "SCHEMA");
    throwsCode(() => MemoryStatsRegistry.open(fresh, { capacity: 2 ** 21 }), "SCHEMA");
    throwsCode(() => MemoryStatsRegistry.open(fresh, { fields: [] }), "SCHEMA");
    throwsCode(() => MemoryStatsRegistry.open(fresh, { fields: ["x", "x"] }), "SCHEMA", /twice/);
    throwsCode(() => MemoryStatsRegistry.open(fresh, { fields: ["bad-name"] }), "SCHEMA");
    // A record key "__proto__" would set the record's prototype: the field would vanish from every read.
    throwsCode(
      () => MemoryStatsRegistry.open(fresh, { fields: ["arena_bytes", "__proto__"] }),
      "SCHEMA",
      /__proto__/,
    );
    throwsCode(
      () => MemoryStatsRegistry.open(fresh, { fields: [...Array(33).keys()].map((i) => `f${i}`) }),
      "SCHEMA",
    );
    assert.equal(existsSync(shmPath(fresh)), false);
  });

  it("SCHEMA: a corrupt header (impossible geometry) is refused", () => {
    const name = uniqueName("corrupt");
    MemoryStatsRegistry.open(name).close();
    try {
      pokeFile(name, H.fieldCount, new Uint8Array([200, 0, 0, 0]));
      throwsCode(() => MemoryStatsRegistry.open(name), "SCHEMA", /corrupt header/);
    } finally {
      cleanup(name);
    }
  });

  it("READ_ONLY: every write through a read-only registry", () => {
    const name = uniqueName("ro");
    const w = MemoryStatsRegistry.open(name);
    const slot = w.register()!;
    const r = MemoryStatsRegistry.open(name, { readOnly: true });
    try {
      throwsCode(() => r.register(), "READ_ONLY", /read-only/);
      throwsCode(() => r.registerSlot(), "READ_ONLY");
      throwsCode(() => r.updateArena(slot, 1), "READ_ONLY");
      throwsCode(() => r.release(slot), "READ_ONLY");
      throwsCode(() => r.reclaim(), "READ_ONLY");
      assert.equal(r.aggregateStats().activeThreads, 1, "reads still work");
      assert.deepEqual(r.ownerCensus(), { live: 1, dead: 0 });
    } finally {
      r.close();
      w.close();
      cleanup(name);
    }
  });

  it("INVALID_ARGUMENT and CLOSED: bad values, unknown fields, bad modes, use after close", () => {
    const name = uniqueName("args");
    const reg = MemoryStatsRegistry.open(name, { fields: ["a", "b"] });
    try {
      const h = reg.registerSlot()!;
      for (const bad of [-1, NaN, Infinity, 2 ** 53, -0.5]) {
        throwsCode(() => h.set(bad), "INVALID_ARGUMENT", /0 to 2\^53-1/);
      }
      throwsCode(() => h.set("c", 1), "INVALID_ARGUMENT", /unknown field "c".*\[a, b\]/);
      throwsCode(() => h.set("a", "5" as unknown as number), "INVALID_ARGUMENT", /got the string "5"/);
      // A number in a string is a value mistaken for a field name, and is called one.
      throwsCode(() => h.set("5" as unknown as number), "INVALID_ARGUMENT", /value .* got the string "5"/);
      throwsCode(() => h.update({ a: 1, c: 2 }), "INVALID_ARGUMENT");
      throwsCode(() => reg.registerSlot({ label: 5 as unknown as string }), "INVALID_ARGUMENT");
      throwsCode(() => MemoryStatsRegistry.open(uniqueName("m"), { mode: 0o1777 }), "INVALID_ARGUMENT");
      assert.equal(h.get(), 0, "failed sets changed nothing");
      h.set(1.5); // values are finite numbers from 0 to 2^53-1: a fraction is kept as given
      assert.equal(reg.slotStats(h.index)!.values.a, 1.5);
      reg.updateArena(9999, 5); // out of range: ignored, as in the seed
      reg.updateArena(-1, 5);
      reg.close();
      throwsCode(() => reg.aggregateStats(), "CLOSED", /closed/);
      throwsCode(() => reg.register(), "CLOSED");
      throwsCode(() => h.set(1), "CLOSED", /released/); // a handle of a closed registry writes nowhere, and says so
      throwsCode(() => reg.updateArena(h.index, 1), "CLOSED");
    } finally {
      reg.close();
      cleanup(name);
    }
  });

  it("SHIM: a bad MEMSTATS_SHIM_PATH, and no compiler with an empty cache", () => {
    const probe = `${ROOT}tests/fixtures/open_default.ts`;
    const bad = runFile(HERE, probe, [uniqueName("shim")], { MEMSTATS_SHIM_PATH: "/nonexistent/lib.so" });
    assert.match(bad.stdout, /^SHIM .*MEMSTATS_SHIM_PATH=\/nonexistent\/lib\.so/m, bad.stderr);
    const cache = mkdtempSync(`${tmpdir()}/memstats-nocc-`);
    try {
      const nocc = runFile(HERE, probe, [uniqueName("shim")], {
        MEMSTATS_SHIM_PATH: "",
        XDG_CACHE_HOME: cache,
        CC: "/bin/false",
        MEMSTATS_SHIM_PREBUILT: "0",
      });
      assert.match(
        nocc.stdout,
        /^SHIM no native shim could be found or built .*compiler: \/bin\/false failed/m,
        nocc.stderr,
      );
      assert.match(nocc.stdout, /MEMSTATS_SHIM_PATH/);
      assert.deepEqual(readdirSync(`${cache}/memstats-shm`), [], "no temp files left behind");
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
