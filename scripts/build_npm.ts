/**
 * Builds the npm package in dist/npm from the same sources JSR publishes.
 *
 * Why not @deno/dnt: it is published only on JSR, which these machines
 * cannot reach. So the build is plain `tsc` (typescript pinned at 5.9.3 in
 * package.json; the newest major is the native compiler, not verified here)
 * with `rewriteRelativeImportExtensions`, which turns the `.ts` import
 * specifiers Deno needs into `.js` ones. Output: ESM JavaScript and `.d.ts`
 * files, a package.json with an `exports` map (types, bun, deno, import,
 * default) and `bin: memstats` (a `node` script, so it needs no Bun; `bunx`
 * runs it too), the C source, and the prebuilt shims of `native/prebuilt/`
 * (from `scripts/build_prebuilt.ts`), each stamped with the hashes
 * `src/ffi/locate.ts` verifies before use.
 *
 * Run: `bun scripts/build_npm.ts` (or `deno run -A scripts/build_npm.ts`).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { readPrebuilt } from "./build_prebuilt.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Where the package is built. */
export const OUT: string = `${ROOT}dist/npm`;

/** The one version, from deno.json; package.json and CHANGELOG.md must agree (a test checks). */
export function projectVersion(): string {
  return JSON.parse(readFileSync(`${ROOT}deno.json`, "utf8")).version;
}

function entry(js: string): Record<string, string> {
  const dts = js.replace(/\.js$/, ".d.ts");
  return { types: dts, bun: js, deno: js, import: js, default: js };
}

/** The package.json of the built package. */
export function npmManifest(version: string): Record<string, unknown> {
  const root = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8"));
  return {
    name: "@memstats/shm",
    version,
    description: root.description,
    license: "MIT",
    type: "module",
    keywords: ["shared-memory", "shm", "metrics", "memory", "bun", "deno", "node", "ffi", "prometheus"],
    exports: {
      ".": entry("./mod.js"),
      "./cli": entry("./src/cli/main.js"),
      "./prom-client": entry("./src/prom_client.js"),
      "./package.json": "./package.json",
    },
    types: "./mod.d.ts",
    bin: { memstats: "./bin/memstats.js" },
    files: ["mod.js", "mod.d.ts", "src/", "bin/", "native/", "README.md", "LICENSE", "CHANGELOG.md"],
    engines: { bun: ">=1.1", deno: ">=2.0", node: ">=26" },
    // Only `@memstats/shm/prom-client` uses it, and only through the registry its caller passes.
    peerDependencies: { "prom-client": ">=14" },
    peerDependenciesMeta: { "prom-client": { optional: true } },
    sideEffects: false,
  };
}

function build(): void {
  const version = projectVersion();
  const rootVersion = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")).version;
  if (rootVersion !== version) {
    throw new Error(`package.json has ${rootVersion}, deno.json ${version}: make them agree`);
  }
  rmSync(OUT, { recursive: true, force: true });
  execFileSync(`${ROOT}node_modules/.bin/tsc`, ["-p", `${ROOT}scripts/tsconfig.npm.json`], {
    stdio: "inherit",
  });

  mkdirSync(`${OUT}/bin`, { recursive: true });
  writeFileSync(
    `${OUT}/bin/memstats.js`,
    `#!/usr/bin/env node\nimport process from "node:process";\nimport { main } from "../src/cli/main.js";\n\nprocess.exit(await main(process.argv.slice(2)));\n`,
  );
  chmodSync(`${OUT}/bin/memstats.js`, 0o755);

  mkdirSync(`${OUT}/native`, { recursive: true });
  copyFileSync(`${ROOT}native/memstats_shim.c`, `${OUT}/native/memstats_shim.c`);
  // The prebuilt libraries travel as files, each with its stamp (scripts/build_prebuilt.ts makes
  // them); the embedded copies for JSR would only double the package, so that module is emptied.
  const tags = Object.keys(readPrebuilt());
  for (const tag of tags) {
    cpSync(`${ROOT}native/prebuilt/${tag}`, `${OUT}/native/prebuilt/${tag}`, { recursive: true });
  }
  writeFileSync(
    `${OUT}/src/ffi/prebuilt_embedded.js`,
    "// The npm package carries native/prebuilt/ as files.\nexport const EMBEDDED_PREBUILT = {};\n",
  );

  for (const f of ["README.md", "LICENSE", "CHANGELOG.md"]) copyFileSync(`${ROOT}${f}`, `${OUT}/${f}`);
  writeFileSync(`${OUT}/package.json`, JSON.stringify(npmManifest(version), null, 2) + "\n");
  console.log(`built ${OUT} (${version}, prebuilt shims: ${tags.join(", ")})`);
}

if (import.meta.main) build();
