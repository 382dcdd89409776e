/**
 * docs/FORMAT.md and src/layout.ts describe the same bytes; the Python reader
 * printed in FORMAT.md reads a segment this library wrote.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { MemoryStatsRegistry } from "../mod.ts";
import {
  CACHE_LINE,
  geometry,
  H,
  HEADER_FIXED,
  headerSizeFor,
  MAX_FIELDS,
  S,
  SLOT_FIXED,
  slotStrideFor,
} from "../src/layout.ts";
import { cleanup, ROOT, uniqueName } from "./helpers.ts";

const FORMAT = readFileSync(`${ROOT}docs/FORMAT.md`, "utf8");

/** Rows `| offset | size | type | name | meaning |` of the table under a `## title` heading. */
function tableRows(title: string): Map<string, number> {
  const section = FORMAT.split(/^## /m).find((s) => s.startsWith(title + "\n"));
  assert.ok(section, `FORMAT.md has a "## ${title}" section`);
  const rows = new Map<string, number>();
  for (const line of section.split("\n")) {
    const m = /^\| (\d+) \| [^|]+ \| [^|]+ \| (\w+) \|/.exec(line);
    if (m) rows.set(m[2], Number(m[1]));
  }
  return rows;
}

function hasPython(): boolean {
  return spawnSync("python3", ["--version"]).status === 0;
}

describe("layout v1", () => {
  it("every header offset in src/layout.ts is documented at the same offset in FORMAT.md", () => {
    const rows = tableRows("Header");
    for (const [name, offset] of Object.entries(H)) {
      if (name === "versionMajor" || name === "versionMinor") continue;
      assert.equal(rows.get(name), offset, `header field ${name}`);
    }
    assert.equal(rows.get("versionMajor"), 8);
    assert.equal(rows.get("versionMinor"), 10);
    assert.equal(rows.size, Object.keys(H).length, "no undocumented or extra header rows");
  });

  it("every slot offset in src/layout.ts is documented at the same offset in FORMAT.md", () => {
    const rows = tableRows("Slot");
    for (const [name, offset] of Object.entries(S)) {
      assert.equal(rows.get(name), offset, `slot field ${name}`);
    }
    assert.match(
      FORMAT,
      /^\| 128 \+ 8 × fieldCount \| 8 × fieldCount \| f64\[\] \| peaks \|/m,
      "peaks follow the values",
    );
  });

  it("header size and slot stride are whole cache lines for every field count", () => {
    for (let f = 1; f <= MAX_FIELDS; f++) {
      assert.equal(headerSizeFor(f) % CACHE_LINE, 0);
      assert.equal(slotStrideFor(f) % CACHE_LINE, 0);
      assert.ok(headerSizeFor(f) >= HEADER_FIXED + 32 * f);
      assert.ok(slotStrideFor(f) >= SLOT_FIXED + 16 * f);
    }
    assert.equal(geometry(64, 1).totalSize, 192 + 64 * 192);
  });

  it("a segment's bytes match the documented header", () => {
    const name = uniqueName("bytes");
    const reg = MemoryStatsRegistry.open(name, { capacity: 3, fields: ["heap", "rss"] });
    try {
      const b = readFileSync(`/dev/shm${name}`);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      assert.equal(b.subarray(0, 8).toString("latin1"), "MEMSTATS");
      assert.equal(dv.getUint16(H.versionMajor, true), 1);
      assert.equal(dv.getUint32(H.endian, true), 0x01020304);
      assert.equal(dv.getUint32(H.headerSize, true), headerSizeFor(2));
      assert.equal(dv.getUint32(H.slotStride, true), slotStrideFor(2));
      assert.equal(dv.getUint32(H.capacity, true), 3);
      assert.equal(dv.getUint32(H.fieldCount, true), 2);
      assert.equal(dv.getUint32(H.state, true), 1);
      assert.equal(Number(dv.getBigUint64(H.totalSize, true)), b.byteLength);
      assert.equal(Number(dv.getBigUint64(H.nextOwnerId, true)), 1);
      assert.equal(b.subarray(H.fieldNames, H.fieldNames + 4).toString(), "heap");
      assert.equal(b.subarray(H.fieldNames + 32, H.fieldNames + 35).toString(), "rss");
      assert.ok(Math.abs(dv.getFloat64(H.createdAt, true) - Date.now()) < 60_000);
    } finally {
      reg.close();
      cleanup(name);
    }
  });

  it("the Python reader printed in FORMAT.md reads what we wrote", {
    skip: hasPython() ? false : "python3 not installed",
  }, () => {
    const name = uniqueName("py");
    const reg = MemoryStatsRegistry.open(name, { capacity: 4, fields: ["heap", "rss"] });
    try {
      const a = reg.registerSlot({ label: "α-worker" })!;
      a.update({ heap: 1024, rss: 2 ** 40 });
      a.set("heap", 10);
      reg.registerSlot({ label: "b" })!.set(7);
      const code = /```python\n([\s\S]*?)```/.exec(FORMAT)![1] +
        `\nimport json, sys\nprint(json.dumps(list(read_segment(sys.argv[1]))))\n`;
      const r = spawnSync("python3", ["-c", code, name], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      const rows = JSON.parse(r.stdout);
      assert.equal(rows.length, 2);
      assert.equal(rows[0].label, "α-worker");
      assert.deepEqual(rows[0].values, { heap: 10, rss: 2 ** 40 });
      assert.deepEqual(rows[0].peaks, { heap: 1024, rss: 2 ** 40 });
      assert.equal(rows[0].owner, a.ownerId);
      assert.equal(rows[1].values.heap, 7);
    } finally {
      reg.close();
      cleanup(name);
    }
  });
});
