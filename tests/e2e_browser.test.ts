/**
 * End to end in a browser: headless Chromium from Debian's `chromium`
 * package (which `.ci/run` installs), driven by `playwright-core`, opens the
 * dashboard of `memstats serve` on a segment written by Bun and Deno
 * processes. A row appears for each live writer, values change between two
 * looks, a writer that exits disappears, a writer killed with SIGKILL
 * disappears and is counted as a dead slot awaiting reclaim, a label with
 * terminal escapes and U+202E shows them as U+FFFD, the charts span the
 * history actually held, the page fits a phone's width, a removed segment
 * shows the error banner, and no script error occurs.
 * Screenshots are saved as artifacts: `.test-results/dashboard.png` and
 * `.test-results/dashboard-phone.png`.
 *
 * Skipped, by name, when /usr/bin/chromium is missing; this test never
 * installs anything (no `playwright install`: the browser is Debian's).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { MemoryStatsRegistry } from "../mod.ts";
import { formatValue } from "../src/report_text.ts";
import { cleanup, HERE, onlyUnder, ROOT, uniqueName } from "./helpers.ts";
import { Proc } from "./fixtures/proc.ts";
import { ServeProc } from "./fixtures/serve_proc.ts";
import { CHROMIUM, CHROMIUM_ARGS } from "./fixtures/browser.ts";

const SKIP = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} not installed (Debian package chromium; .ci/run installs it)`;
const MiB = 1 << 20;
const ARTIFACTS = `${ROOT}.test-results`;

/** The few browser globals the page callbacks use (this file is type-checked without the DOM library). */
interface Dom {
  document: {
    querySelector(selector: string): { getAttribute(name: string): string | null } | null;
    querySelectorAll(selector: string): ArrayLike<{ getAttribute(name: string): string | null }>;
    documentElement: { scrollWidth: number };
  };
  innerWidth: number;
}

// ESC, an OSC 52 clipboard write ended by BEL, CR, U+202E (right-to-left override), a CSI clear.
const HOSTILE_LABEL = "k\x1b]52;c;ZXZpbA==\x07i\rl\u202El\x1b[2J";
const HOSTILE_SHOWN = "k\ufffd]52;c;ZXZpbA==\ufffdi\ufffdl\ufffdl\ufffd[2J";

describe("end to end: dashboard in Chromium", () => {
  it(
    "the dashboard shows a row per live Bun and Deno writer, values change between two looks, an exited writer disappears; screenshot saved",
    {
      skip: SKIP || onlyUnder("bun"),
    },
    async () => {
      const { chromium } = await import("playwright-core");
      const name = uniqueName("e2e-web");
      const profile = mkdtempSync(`${tmpdir()}/memstats-e2e-chromium-`);
      const writers: Proc[] = [];
      let server: ServeProc | undefined;
      let browser: Awaited<ReturnType<typeof chromium.launchPersistentContext>> | undefined;
      try {
        const bun = new Proc("bun", "diag_child.ts");
        const deno = new Proc("deno", "diag_child.ts");
        const brief = new Proc("bun", "diag_child.ts"); // exits half way
        const killed = new Proc("deno", "diag_child.ts"); // SIGKILLed half way
        writers.push(bun, deno, brief, killed);
        await bun.send({
          op: "open",
          name,
          options: { capacity: 8, fields: ["arena_bytes", "rss_bytes", "requests"] },
        });
        await deno.send({ op: "open", name, options: { create: false } });
        await brief.send({ op: "open", name, options: { create: false } });
        await killed.send({ op: "open", name, options: { create: false } });
        const live = [
          {
            proc: bun,
            label: "bun-http",
            values: { arena_bytes: 3 * MiB, rss_bytes: 48 * MiB, requests: 1200 },
          },
          {
            proc: deno,
            label: "deno-main",
            values: { arena_bytes: 7 * MiB, rss_bytes: 36 * MiB, requests: 15 },
          },
          {
            proc: brief,
            label: "bun-brief",
            values: { arena_bytes: 1 * MiB, rss_bytes: 30 * MiB, requests: 2 },
          },
          {
            proc: killed,
            label: HOSTILE_LABEL,
            shown: HOSTILE_SHOWN,
            values: { arena_bytes: 2 * MiB, rss_bytes: 20 * MiB, requests: 40 },
          },
        ];
        const slots: number[] = [];
        for (const w of live) {
          const s = await w.proc.send({ op: "register", label: w.label });
          await w.proc.send({ op: "update", slot: s.slot, values: w.values });
          slots.push(s.slot);
        }

        server = new ServeProc(HERE, [name, "--port", "0"]);
        const base = await server.url();

        browser = await chromium.launchPersistentContext(profile, {
          executablePath: CHROMIUM,
          headless: true,
          args: [...CHROMIUM_ARGS],
          viewport: { width: 1280, height: 800 },
        });
        const page = browser.pages()[0] ?? await browser.newPage();
        const problems: string[] = [];
        page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
        page.on("console", (m) => {
          // Chromium logs every non-2xx fetch; the 503 of /api/snapshot while the segment is gone is expected.
          if (m.type() === "error" && !/status of 503/.test(m.text())) {
            problems.push(`console error: ${m.text()}`);
          }
        });
        await page.goto(base);

        // A row for each live writer, with its label, pid and tid.
        const row = (pid: number, slot: number) => `.row.slot[data-pid="${pid}"][data-slot="${slot}"]`;
        for (const [i, w] of live.entries()) {
          await page.waitForSelector(row(w.proc.pid, slots[i]), { timeout: 60_000 });
          const r = page.locator(row(w.proc.pid, slots[i]));
          assert.equal(await r.getAttribute("data-label"), w.shown ?? w.label);
          assert.equal(await r.locator(".lbl").textContent(), w.shown ?? w.label);
          assert.equal(await r.locator(".c.pid").textContent(), String(w.proc.pid));
          assert.equal(await r.locator(".c.tid").textContent(), await r.getAttribute("data-tid"));
          const arena = r.locator('[data-field="arena_bytes"]');
          assert.equal(await arena.getAttribute("data-value"), String(w.values.arena_bytes));
          assert.equal(
            await arena.locator(".v").textContent(),
            formatValue("arena_bytes", w.values.arena_bytes),
          );
        }
        assert.equal(await page.locator(".row.slot").count(), 4);
        assert.equal(await page.locator("#name").textContent(), name);
        assert.equal(await page.locator("#banner").isHidden(), true);
        assert.match((await page.locator("#cap-text").textContent())!, /4 of 8 slots used \(50%\)/);
        assert.equal(await page.locator("#dead").getAttribute("data-count"), "0");
        assert.equal(await page.locator("#dead").textContent(), "0 dead slots awaiting reclaim");
        assert.equal(await page.locator("#skipped").getAttribute("data-count"), "0");
        assert.equal(await page.locator(".chart").count(), 3);

        // Two looks: the Bun writer's figures change, the page follows without reloading.
        const cell = (field: string) => page.locator(`${row(bun.pid, slots[0])} [data-field="${field}"]`);
        const firstLook = await cell("requests").locator(".v").textContent();
        assert.equal(firstLook, "1.20k");
        await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
        await bun.send({ op: "update", slot: slots[0], values: { arena_bytes: 2 * MiB, requests: 2500 } });
        await page.waitForFunction(
          (sel) =>
            (globalThis as unknown as Dom).document.querySelector(sel)?.getAttribute("data-value") === "2500",
          `${row(bun.pid, slots[0])} [data-field="requests"]`,
          { timeout: 30_000 },
        );
        assert.equal(await cell("requests").locator(".v").textContent(), formatValue("requests", 2500));
        assert.equal(
          await cell("arena_bytes").locator(".pk").textContent(),
          `/ ${formatValue("arena_bytes", 3 * MiB)}`,
        );
        const fill = await cell("arena_bytes").locator(".fill").evaluate((e) =>
          (e as unknown as { style: { width: string } }).style.width
        );
        assert.equal(fill, "66.7%", "bar: value against peak");
        assert.equal(
          await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker),
          42,
          "updated in place, not reloaded",
        );
        const total = page.locator('#total [data-field="requests"]');
        assert.equal(await total.getAttribute("data-value"), String(2500 + 15 + 2 + 40));

        // A writer that exits: its row goes.
        await brief.close();
        await page.waitForSelector(row(brief.pid, slots[2]), { state: "detached", timeout: 30_000 });
        assert.equal(await page.locator(".row.slot").count(), 3);

        // A writer killed with SIGKILL (no exit hook runs): its row and its share of the totals go,
        // and it is counted as a dead slot awaiting reclaim.
        await killed.kill("SIGKILL");
        await page.waitForSelector(row(killed.pid, slots[3]), { state: "detached", timeout: 30_000 });
        await page.waitForSelector('#dead[data-count="1"]', { timeout: 30_000 });
        assert.equal(await page.locator("#dead").textContent(), "1 dead slot awaiting reclaim");
        assert.equal(await page.locator(".row.slot").count(), 2);
        assert.equal(await total.getAttribute("data-value"), String(2500 + 15));
        assert.match((await page.locator("#total .c.label").textContent())!, /^total \(2\)$/);

        // The charts span the history held (seconds here), not a fixed 10 minutes with the data in a sliver.
        await page.waitForTimeout(3000);
        const charts = await page.evaluate(() =>
          Array.from((globalThis as unknown as Dom).document.querySelectorAll(".chart svg")).map((svg) => ({
            from: Number(svg.getAttribute("data-from")),
            to: Number(svg.getAttribute("data-to")),
          }))
        );
        const lines = await page.locator(".chart .line").evaluateAll((els) =>
          els.map((e) => (e as unknown as { getAttribute(n: string): string }).getAttribute("d"))
        );
        assert.equal(lines.length, 3);
        for (const [i, d] of lines.entries()) {
          const xs = [...d.matchAll(/[ML]([\d.]+) /g)].map((m) => Number(m[1]));
          assert.ok(xs.length >= 3, `a line of several points: ${d}`);
          assert.ok(
            xs[0] < 60,
            `the oldest point starts near the left edge, not in a sliver at the right: ${d}`,
          );
          assert.ok(Math.max(...xs) > 540, `the newest point is near the right edge: ${d}`);
          assert.ok(charts[i].to - charts[i].from < 120_000, "the span is the history held, not 10 minutes");
        }
        assert.match((await page.locator(".ch-axis span").first().textContent())!, /^\u2212\d+ s$/);
        assert.match((await page.locator("h2").first().textContent())!, /^Totals \u00b7 last \d+ s$/);
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: `${ARTIFACTS}/dashboard.png`, fullPage: true });
        assert.ok(statSync(`${ARTIFACTS}/dashboard.png`).size > 10_000);

        // A phone's width: no sideways scrolling, rows still there.
        await page.setViewportSize({ width: 390, height: 844 });
        await page.waitForTimeout(1500);
        const [scrollWidth, innerWidth] = await page.evaluate(() => [
          (globalThis as unknown as Dom).document.documentElement.scrollWidth,
          (globalThis as unknown as Dom).innerWidth,
        ]);
        assert.ok(scrollWidth <= innerWidth, `fits a phone: scrollWidth ${scrollWidth} > ${innerWidth}`);
        assert.equal(await page.locator(".row.slot").count(), 2);
        assert.equal(await page.locator(`${row(deno.pid, slots[1])} .lbl`).isVisible(), true);
        await page.screenshot({ path: `${ARTIFACTS}/dashboard-phone.png`, fullPage: true });
        await page.setViewportSize({ width: 1280, height: 800 });

        // The segment is removed: the error banner, the server still running.
        MemoryStatsRegistry.unlink(name);
        await page.waitForSelector('#banner[data-code="NOT_FOUND"]', { state: "visible", timeout: 30_000 });
        assert.match(
          (await page.locator("#banner").textContent())!,
          new RegExp(`Segment ${name} is unavailable`),
        );
        assert.equal(await page.locator("#status-text").textContent(), "segment unavailable");
        assert.ok(server.alive);

        assert.deepEqual(problems, []);
      } finally {
        await browser?.close().catch(() => {});
        await server?.stop("SIGKILL");
        for (const w of writers) await w.kill();
        cleanup(name);
        rmSync(profile, { recursive: true, force: true });
      }
    },
  );
});
