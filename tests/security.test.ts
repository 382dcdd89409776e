/**
 * Other users and bad names: bad names never reach a system call.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { HERE, ROOT, runFile, uniqueName } from "./helpers.ts";

const TRY = `${ROOT}tests/fixtures/try_open.ts`;

describe("security", () => {
  it("names with '/' inside, '..', or over the limit are refused before any system call: the shim is never loaded", () => {
    const before = readdirSync("/dev/shm").length;
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
    assert.equal(readdirSync("/dev/shm").length, before);
  });
});
