/**
 * The package version `memstats --version` prints. It is a constant, not
 * read from deno.json or package.json at run time, because neither file is
 * next to the code in every form the CLI ships in (JSR, the npm package, a
 * clone); tests/cli.test.ts checks that it is the one version deno.json and
 * package.json carry.
 *
 * @module
 */

/** This package's version. */
export const VERSION = "0.2.0";
