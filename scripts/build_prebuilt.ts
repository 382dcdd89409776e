/**
 * Builds the prebuilt shims, all from the one `native/memstats_shim.c`:
 *
 * | tag               | compiler                                                  |
 * |-------------------|-----------------------------------------------------------|
 * | linux-x64-glibc   | `gcc` (Debian 12: glibc 2.36; loads on glibc >= 2.34)      |
 * | linux-x64-musl    | `musl-gcc` (Debian `musl-tools`)                           |
 * | linux-arm64-glibc | `aarch64-linux-gnu-gcc` (`gcc-aarch64-linux-gnu`)          |
 * | linux-arm64-musl  | `aarch64-linux-gnu-gcc` with Debian's arm64 `musl-dev` as  |
 * |                   | its C library (a spec file like `musl-gcc`'s)              |
 *
 * The arm64 musl library and headers come from Debian's `musl-dev:arm64` and
 * `musl:arm64` packages, fetched with `apt-get download` into `.cache/`
 * with a private package list (the machine's dpkg architectures are not
 * touched). arm64 builds use `-mno-outline-atomics`: the outline helpers
 * call `__getauxval`, which musl's dynamic libc does not export.
 *
 * Writes `native/prebuilt/<tag>/libmemstats_shim.so` and `build.json` (the
 * stamp `src/ffi/locate.ts` verifies), and `src/ffi/prebuilt_embedded.ts`
 * (the same libraries, gzip + base64, for the JSR package). Stripped builds
 * are reproducible: running it twice gives the same bytes.
 * `tests/prebuilt.test.ts` fails when a stamp is stale.
 *
 * Run: `bun scripts/build_prebuilt.ts` (needs: gcc, musl-tools,
 * gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, and apt-get for the rest).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { gzipSync } from "node:zlib";
import { libraryName, type PrebuiltStamp, shimCompileArgs } from "../src/ffi/locate.ts";
import { PREBUILT_TAGS } from "../src/ffi/prebuilt.ts";
import { SHIM_SOURCE_SHA256 } from "../src/ffi/shim_source.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SRC = `${ROOT}native/memstats_shim.c`;
/** Where the prebuilt libraries live in the repository (and in the npm package). */
export const PREBUILT_DIR: string = `${ROOT}native/prebuilt`;
/** The generated module carrying them for JSR. */
export const EMBEDDED_TS: string = `${ROOT}src/ffi/prebuilt_embedded.ts`;
const MUSL_ARM64 = `${ROOT}.cache/musl-arm64`;

function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function run(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
}

/** Debian's arm64 musl (headers, crt files, libc.so) unpacked into .cache/, and a gcc spec file over it. */
function muslArm64Specs(): string {
  const root = `${MUSL_ARM64}/sysroot`;
  if (!existsSync(`${root}/lib/aarch64-linux-musl/libc.so`)) {
    const apt = `${MUSL_ARM64}/apt`;
    for (const d of ["lists/partial", "cache/archives/partial", "debs"]) {
      mkdirSync(`${apt}/${d}`, { recursive: true });
    }
    const opts = [
      "-o",
      "APT::Architectures::=arm64",
      "-o",
      "APT::Architecture=arm64",
      "-o",
      `Dir::State::Lists=${apt}/lists`,
      "-o",
      `Dir::Cache=${apt}/cache`,
      "-o",
      "Dir::State::status=/dev/null",
    ];
    run("apt-get", [...opts, "-qq", "update"]);
    run("apt-get", [...opts, "-qq", "download", "musl-dev:arm64", "musl:arm64"], `${apt}/debs`);
    for (const deb of readdirSync(`${apt}/debs`)) run("dpkg-deb", ["-x", `${apt}/debs/${deb}`, root]);
  }
  const specs = readFileSync(`${root}/usr/lib/aarch64-linux-musl/musl-gcc.specs`, "utf8")
    .replaceAll("/usr/include/aarch64-linux-musl", `${root}/usr/include/aarch64-linux-musl`)
    // libc.so is in /lib: search it first, or the static libc.a next to the crt files is linked in.
    .replace(
      "-L/usr/lib/aarch64-linux-musl",
      `-L${root}/lib/aarch64-linux-musl -L${root}/usr/lib/aarch64-linux-musl`,
    )
    .replaceAll(" /usr/lib/aarch64-linux-musl/", ` ${root}/usr/lib/aarch64-linux-musl/`);
  const path = `${MUSL_ARM64}/musl-gcc.specs`;
  writeFileSync(path, specs);
  return path;
}

/** How each tag is built: compiler and extra flags (before the source). */
function recipe(tag: string): { cc: string; extra: string[] } {
  const strip = ["-Wl,-s", "-Wl,--build-id=sha1"];
  switch (tag) {
    case "linux-x64-glibc":
      return { cc: "gcc", extra: strip };
    case "linux-x64-musl":
      return { cc: "musl-gcc", extra: strip };
    case "linux-arm64-glibc":
      return { cc: "aarch64-linux-gnu-gcc", extra: [...strip, "-mno-outline-atomics"] };
    case "linux-arm64-musl":
      return {
        cc: "aarch64-linux-gnu-gcc",
        extra: [`-specs=${muslArm64Specs()}`, ...strip, "-mno-outline-atomics"],
      };
  }
  throw new Error(`no recipe for ${tag}`);
}

/** The generated module's text for these libraries. */
export function renderEmbedded(libs: Record<string, { stamp: PrebuiltStamp; bytes: Uint8Array }>): string {
  const entries = Object.entries(libs).map(([tag, { stamp, bytes }]) => {
    const gz = gzipSync(bytes, { level: 9 });
    const b64 = btoa(Array.from(gz, (b) => String.fromCharCode(b)).join(""));
    return `  ${JSON.stringify(tag)}: {\n` +
      `    platform: ${JSON.stringify(stamp.platform)},\n` +
      `    sourceSha256: ${JSON.stringify(stamp.sourceSha256)},\n` +
      `    libSha256: ${JSON.stringify(stamp.libSha256)},\n` +
      `    compiler: ${JSON.stringify(stamp.compiler ?? "")},\n` +
      `    gzipBase64:\n      ${JSON.stringify(b64)},\n  },\n`;
  });
  return `// Generated by scripts/build_prebuilt.ts from native/prebuilt/. Do not edit.
import type { EmbeddedPrebuilt } from "./prebuilt.ts";
/** Prebuilt shims carried inside the module graph (the JSR package), by platform tag. */
export const EMBEDDED_PREBUILT: Readonly<Record<string, EmbeddedPrebuilt>> = {
${entries.join("")}};
`;
}

/** Every prebuilt library in native/prebuilt/, with its stamp. */
export function readPrebuilt(): Record<string, { stamp: PrebuiltStamp; bytes: Uint8Array }> {
  const out: Record<string, { stamp: PrebuiltStamp; bytes: Uint8Array }> = {};
  for (const tag of PREBUILT_TAGS) {
    const dir = `${PREBUILT_DIR}/${tag}`;
    if (!existsSync(`${dir}/build.json`)) continue;
    out[tag] = {
      stamp: JSON.parse(readFileSync(`${dir}/build.json`, "utf8")),
      bytes: readFileSync(`${dir}/${libraryName()}`),
    };
  }
  return out;
}

function build(only: string[]): void {
  const tags = only.length ? only : PREBUILT_TAGS;
  for (const tag of tags) {
    const { cc, extra } = recipe(tag);
    const dir = `${PREBUILT_DIR}/${tag}`;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const lib = `${dir}/${libraryName()}`;
    execFileSync(cc, shimCompileArgs(SRC, lib, ["-Wextra", "-Werror", ...extra]), {
      stdio: "inherit",
      cwd: ROOT,
    });
    const version = run(cc, ["-dumpfullversion"]).trim();
    const stamp: PrebuiltStamp = {
      sourceSha256: SHIM_SOURCE_SHA256,
      libSha256: sha256(readFileSync(lib)),
      platform: tag,
      compiler: `${cc} ${version}`,
    };
    writeFileSync(`${dir}/build.json`, JSON.stringify(stamp, null, 2) + "\n");
    console.log(`${tag}: ${stamp.libSha256.slice(0, 16)} (${stamp.compiler})`);
  }
  writeFileSync(EMBEDDED_TS, renderEmbedded(readPrebuilt()));
  console.log(`wrote ${EMBEDDED_TS}`);
}

if (import.meta.main) build(process.argv.slice(2));
