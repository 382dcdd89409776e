/**
 * Makes the README's screenshot of the `memstats serve` dashboard:
 *
 *     bun scripts/dashboard_screenshot.ts [--wait s] [--out docs/dashboard.png] [--width px]
 *
 * Runs the demo (Bun server processes with Worker threads under load, so
 * the figures move) for a while, serves its segment with `memstats serve`,
 * lets the charts collect `--wait` seconds of history (default 100), and
 * takes a screenshot of the page in Debian's headless Chromium
 * (/usr/bin/chromium, driven by playwright-core). Stops everything it
 * started, which removes the demo's segment.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { parseArgs } from "../src/cli/args.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "../tests/fixtures/browser.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const args = parseArgs("dashboard_screenshot", process.argv.slice(2), [
  {
    name: "wait",
    type: "integer",
    value: "s",
    min: 1,
    help: "Seconds of history before the shot (default 100).",
  },
  {
    name: "out",
    type: "string",
    value: "path",
    help: "Where to write the PNG (default docs/dashboard.png).",
  },
  { name: "width", type: "integer", value: "px", min: 320, help: "Viewport width (default 1280)." },
]);
const waitS = (args.options.wait as number | undefined) ?? 100;
const out = (args.options.out as string | undefined) ?? `${ROOT}docs/dashboard.png`;
const width = (args.options.width as number | undefined) ?? 1280;
const segment = `/memstats-demo-shot-${process.pid}`;
const bun = `${ROOT}node_modules/.bin/bun`;

if (!existsSync(CHROMIUM)) {
  console.error(`${CHROMIUM} is missing: apt-get install chromium`);
  process.exit(1);
}

const children: ChildProcess[] = [];
function start(argv: string[]): ChildProcess {
  const c = spawn(bun, argv, { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  children.push(c);
  return c;
}
async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once("exit", r));
  process.kill(c.pid!, "SIGTERM");
  const t = setTimeout(() => c.exitCode === null && process.kill(c.pid!, "SIGKILL"), 15_000);
  await gone;
  clearTimeout(t);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const profile = mkdtempSync(`${tmpdir()}/memstats-shot-chromium-`);
try {
  start([
    "scripts/demo.ts",
    "--duration",
    String(waitS + 60),
    "--segment",
    segment,
    "--processes",
    "2",
    "--workers",
    "2",
  ]);
  for (let i = 0; !existsSync(`/dev/shm${segment}`); i++) {
    if (i > 600) throw new Error("the demo did not start");
    await sleep(100);
  }
  const serve = start(["src/cli/main.ts", "serve", segment, "--port", "0"]);
  let said = "";
  serve.stdout!.on("data", (d) => (said += d));
  while (!/ on (http:\/\/\S+?\/) /.test(said)) await sleep(50);
  const url = / on (http:\/\/\S+?\/) /.exec(said)![1];
  console.log(`serving ${segment} at ${url}; collecting ${waitS} s of history`);
  await sleep(waitS * 1000);
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS],
    viewport: { width, height: 800 },
    colorScheme: "light",
  });
  try {
    const page = browser.pages()[0] ?? await browser.newPage();
    await page.goto(url);
    await page.waitForSelector(".row.slot");
    await sleep(2500);
    await page.screenshot({ path: out, fullPage: true });
    console.log(`wrote ${out}`);
  } finally {
    await browser.close();
  }
} finally {
  for (const c of children.reverse()) await stop(c);
  rmSync(profile, { recursive: true, force: true });
}
