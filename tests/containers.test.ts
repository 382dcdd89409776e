/**
 * Containers: /dev/shm has a size limit (Docker's default is 64 MB). A
 * segment too big for it is a NO_SPACE error at creation, never a SIGBUS at
 * the first touch of a page; a segment whose pages are not all there (sized
 * with ftruncate alone) is a NO_SPACE error for its readers and writers, and
 * `memstats ls` and `show` keep working. Run in a private mount namespace
 * with a small tmpfs on /dev/shm (`unshare -m`, as root; skipped by name
 * where that is not permitted), so the machine's /dev/shm is not touched.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { CHILD_RUNTIMES, ROOT, runArgs } from "./helpers.ts";

function canUnshare(): string | false {
  const r = spawnSync("unshare", ["-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /dev/shm"], {
    encoding: "utf8",
  });
  return r.status === 0
    ? false
    : `unshare -m with a tmpfs on /dev/shm is not permitted here (${
      (r.stderr || r.error?.message || "").trim()
    })`;
}

const SKIP = canUnshare();

/** Run a shell script in a private mount namespace with an 8 MiB tmpfs on /dev/shm. */
function inSmallShm(script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    "unshare",
    ["-m", "sh", "-c", `mount -t tmpfs -o size=8m tmpfs /dev/shm && ${script}`],
    {
      encoding: "utf8",
      timeout: 120_000,
    },
  );
  return { status: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

const q = (args: string[]) => args.map((a) => `'${a}'`).join(" ");

describe("containers: a small /dev/shm", () => {
  for (const rt of CHILD_RUNTIMES) {
    it(
      `${rt}: too big is NO_SPACE at creation (nothing left behind); a sparse segment on a full /dev/shm is NO_SPACE for readers and writers, and ls and show keep working`,
      {
        skip: SKIP,
      },
      () => {
        const [cmd, args] = runArgs(rt, `${ROOT}tests/fixtures/small_shm.ts`, ["/mst-big", "/mst-sparse"]);
        const [ccmd, cargs] = runArgs(rt, `${ROOT}src/cli/main.ts`, []);
        const cliLine = (a: string[]) => `${ccmd} ${q([...cargs, ...a])}`;
        const r = inSmallShm(
          `${cmd} ${q(args)} && echo '--- ls' && ${cliLine(["ls", "--all"])}; echo "rc=$?"` +
            ` && echo '--- show' && ${cliLine(["show", "/mst-sparse"])}; echo "rc=$?"`,
        );
        assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
        const [json, rest] = r.stdout.split("--- ls\n");
        const out = JSON.parse(json);
        assert.match(
          out.create,
          /^NO_SPACE: cannot reserve 12 MiB of shared memory for segment \/mst-big: \/dev\/shm has [\d.]+ MiB free of 8\.0 MiB; .*smaller capacity.*--shm-size.*sizeLimit/,
        );
        assert.equal(out.leftBehind, false, "a segment that could not be reserved is removed");
        assert.match(out.filled, /ENOSPC/);
        assert.match(
          out.read,
          /^NO_SPACE: cannot read segment \/mst-sparse: a page of it was never reserved/,
        );
        assert.match(
          out.write,
          /^NO_SPACE: cannot reserve 0\.8 MiB of shared memory for segment \/mst-sparse/,
        );
        const [ls, show] = rest.split("--- show\n");
        assert.match(ls, /\/mst-sparse: NO_SPACE/, "ls lists the segment with its error");
        assert.match(ls, /rc=0/, "ls does not crash on it");
        assert.match(show, /rc=1/);
        assert.doesNotMatch(r.stdout + r.stderr, /Bus error|panic|SIGBUS|core dumped/);
        assert.match(r.stderr, /memstats show: cannot read segment \/mst-sparse: .*\[NO_SPACE\]/);
      },
    );
  }
});
