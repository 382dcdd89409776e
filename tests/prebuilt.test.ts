/**
 * The prebuilt shims: every stamp names the current C source and the
 * library's own bytes (a stale one fails here: run `bun
 * scripts/build_prebuilt.ts`), the JSR module carries exactly the same
 * libraries, each library is for the CPU and C library its tag says, and
 * each is loaded and exercised from C by `tests/fixtures/shim_harness.c`
 * linked against its own C library: natively for x86-64 (glibc with `cc`,
 * musl with `musl-gcc`), under qemu-user for arm64.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { Buffer } from "node:buffer";
import { gunzipSync } from "node:zlib";
import process from "node:process";
import { readPrebuilt } from "../scripts/build_prebuilt.ts";
import { EMBEDDED_PREBUILT } from "../src/ffi/prebuilt_embedded.ts";
import { detectLibc, platformTag, PREBUILT_TAGS } from "../src/ffi/prebuilt.ts";
import { SHIM_SOURCE_SHA256 } from "../src/ffi/shim_source.ts";
import { ROOT } from "./helpers.ts";

const REBUILD = "run `bun scripts/build_prebuilt.ts` after changing native/memstats_shim.c";
const HARNESS = `${ROOT}tests/fixtures/shim_harness.c`;
const MUSL_ARM64 = `${ROOT}.cache/musl-arm64`;
const work = mkdtempSync(`${tmpdir()}/memstats-prebuilt-`);
after(() => rmSync(work, { recursive: true, force: true }));

function lib(tag: string): string {
  return `${ROOT}native/prebuilt/${tag}/libmemstats_shim.so`;
}

function missing(...tools: string[]): string | undefined {
  for (const t of tools) {
    if (t.startsWith("/") ? !existsSync(t) : spawnSync(t, ["--version"]).error) {
      return `${t} is not installed`;
    }
  }
  return undefined;
}

/** Build the harness with `cc args`, run it (through `runner`) on the tag's library; its output. */
function harness(tag: string, cc: string, ccArgs: string[], runner: string[] = [], env = {}): string {
  const exe = `${work}/harness-${tag}`;
  const b = spawnSync(cc, [...ccArgs, "-O1", "-o", exe, HARNESS, "-ldl", "-pthread"], { encoding: "utf8" });
  assert.equal(b.status, 0, b.stderr);
  const r = spawnSync(runner[0] ?? exe, [...runner.slice(1), ...(runner.length ? [exe] : []), lib(tag)], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return (r.stdout + r.stderr).trim();
}

describe("prebuilt shims", () => {
  it(`every stamp is fresh: built from this native/memstats_shim.c, bytes as recorded (${REBUILD})`, () => {
    const libs = readPrebuilt();
    assert.deepEqual(Object.keys(libs).sort(), [...PREBUILT_TAGS].sort(), "one library per tag");
    for (const [tag, { stamp, bytes }] of Object.entries(libs)) {
      assert.equal(stamp.platform, tag);
      assert.equal(stamp.sourceSha256, SHIM_SOURCE_SHA256, `${tag} is stale: ${REBUILD}`);
      assert.equal(
        createHash("sha256").update(bytes).digest("hex"),
        stamp.libSha256,
        `${tag}: bytes changed`,
      );
    }
  });

  it("the JSR module embeds exactly these libraries (src/ffi/prebuilt_embedded.ts)", () => {
    // Compared decompressed: each runtime's zlib compresses the same bytes differently.
    const files = readPrebuilt();
    assert.deepEqual(Object.keys(EMBEDDED_PREBUILT).sort(), Object.keys(files).sort(), REBUILD);
    for (const [tag, { gzipBase64, ...stamp }] of Object.entries(EMBEDDED_PREBUILT)) {
      assert.deepEqual(
        { compiler: "", ...stamp },
        { compiler: "", ...files[tag].stamp },
        `${tag}: ${REBUILD}`,
      );
      const bytes = gunzipSync(Uint8Array.from(atob(gzipBase64), (c) => c.charCodeAt(0)));
      assert.ok(Buffer.from(bytes).equals(Buffer.from(files[tag].bytes)), `${tag}: ${REBUILD}`);
    }
  });

  it("each library is for the CPU and C library its tag names (ELF machine, needed libc)", () => {
    for (const [tag, { bytes }] of Object.entries(readPrebuilt())) {
      const machine = bytes[18] | (bytes[19] << 8);
      assert.equal(machine, tag.includes("arm64") ? 183 : 62, `${tag}: ELF e_machine`);
      const text = new TextDecoder("latin1").decode(bytes);
      if (tag.endsWith("glibc")) assert.ok(text.includes("libc.so.6\0"), `${tag} needs glibc's libc.so.6`);
      else assert.ok(/\0libc\.so\0/.test(text) && !text.includes("libc.so.6"), `${tag} needs musl's libc.so`);
    }
  });

  it("this process's tag names its C library", () => {
    assert.match(platformTag(), /^linux-(x64|arm64)-(glibc|musl)$/);
    assert.ok(platformTag().endsWith(detectLibc()));
  });

  it("linux-x64-glibc loads and works from a C harness (native)", { skip: missing("cc") }, () => {
    assert.equal(harness("linux-x64-glibc", "cc", []), "OK");
  });

  it("linux-x64-musl loads and works from a C harness linked with musl-gcc (native)", {
    skip: missing("musl-gcc"),
  }, () => {
    assert.equal(harness("linux-x64-musl", "musl-gcc", []), "OK");
  });

  it("linux-arm64-glibc loads and works from a C harness under qemu-aarch64", {
    skip: missing("aarch64-linux-gnu-gcc", "qemu-aarch64", "/usr/aarch64-linux-gnu/lib"),
  }, () => {
    const out = harness("linux-arm64-glibc", "aarch64-linux-gnu-gcc", [], ["qemu-aarch64"], {
      QEMU_LD_PREFIX: "/usr/aarch64-linux-gnu",
    });
    assert.equal(out, "OK");
  });

  it("linux-arm64-musl loads and works from a C harness under qemu-aarch64 (Debian's arm64 musl)", {
    skip: missing("aarch64-linux-gnu-gcc", "qemu-aarch64") ??
      (existsSync(`${MUSL_ARM64}/musl-gcc.specs`)
        ? undefined
        : "no arm64 musl in .cache/musl-arm64 (`bun scripts/build_prebuilt.ts linux-arm64-musl` fetches it)"),
  }, () => {
    const out = harness(
      "linux-arm64-musl",
      "aarch64-linux-gnu-gcc",
      [`-specs=${MUSL_ARM64}/musl-gcc.specs`],
      [
        "qemu-aarch64",
      ],
      { QEMU_LD_PREFIX: `${MUSL_ARM64}/sysroot` },
    );
    assert.equal(out, "OK");
  });
});
