/**
 * The records readers build (`perThreadStats()`, `slotStats()`, reports):
 * plain data of one shape, whichever way they are built. Rows are built by
 * code generated per schema (fast in every engine) or, where names are not
 * valid or code generation is forbidden, field by field: the same records.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MemoryStatsRegistry, type ThreadMemoryStats } from "../mod.ts";
import { compileRowBuilder, genericRow } from "../src/table.ts";
import { cleanup, onlyUnder, ROOT, runFile, uniqueName } from "./helpers.ts";

const FIELDS = ["arena_bytes", "heap_bytes", "rss_bytes"];

/** What tests/fixtures/rows_json.ts prints. */
interface RowsAnswer {
  codegen: boolean;
  rows: { keys: string[]; valueKeys: string[]; t: { values: unknown; label: string } }[];
}

describe("records", () => {
  it("a row is the same record, key for key and in the same order, from generated code and field by field", () => {
    const name = uniqueName("rows");
    try {
      using r = MemoryStatsRegistry.open(name, { capacity: 8, fields: FIELDS });
      for (let i = 1; i <= 5; i++) {
        r.registerSlot({ label: `w${i}` })!.update({ arena_bytes: i, heap_bytes: 2 ** 40 + i, rss_bytes: 7 });
      }
      const t = r.snapshot();
      const build = compileRowBuilder(t.fields);
      if (build === undefined) {
        throw new Error("valid names and code generation allowed, yet rows are not compiled");
      }
      for (let k = 0; k < t.count; k++) {
        const a: ThreadMemoryStats = build(t, k);
        const b: ThreadMemoryStats = genericRow(t, k);
        assert.deepEqual(a, b);
        assert.deepEqual(Object.keys(a), Object.keys(b));
        assert.deepEqual(Object.keys(a.values), FIELDS);
        assert.deepEqual(Object.keys(a.peaks), FIELDS);
      }
      const rows = [...r.perThreadStats()];
      assert.deepEqual(rows.map((x) => x.values.heap_bytes), [1, 2, 3, 4, 5].map((i) => 2 ** 40 + i));
      // Plain data: copies, clones and JSON keep every field.
      for (const row of rows) {
        assert.deepEqual(structuredClone(row), row);
        assert.deepEqual({ ...row }, row);
        assert.deepEqual(JSON.parse(JSON.stringify(row)), row);
      }
    } finally {
      cleanup(name);
    }
  });

  it("names a schema could not have never reach generated code: no builder, rows built field by field", () => {
    for (const bad of [["a-b"], ["__proto__"], ['x"]; globalThis.pwned = 1; ["'], ["ok", "1x"], []]) {
      assert.equal(compileRowBuilder(bad), undefined, JSON.stringify(bad));
    }
    assert.equal((globalThis as { pwned?: number }).pwned, undefined);
  });

  it("Node with code generation forbidden (--disallow-code-generation-from-strings): the same records", {
    skip: onlyUnder("node"),
  }, () => {
    const answers = [[], ["--disallow-code-generation-from-strings"]].map((flags) => {
      const r = runFile("node", `${ROOT}tests/fixtures/rows_json.ts`, [], {
        NODE_OPTIONS: [...flags, "--no-warnings"].join(" "),
      });
      const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
      assert.ok(line, `no answer (status ${r.status}): ${r.stderr}`);
      return JSON.parse(line) as RowsAnswer;
    });
    assert.deepEqual(answers.map((a) => a.codegen), [true, false]);
    const shape = (a: RowsAnswer) =>
      a.rows.map(({ keys, valueKeys, t }) => ({ keys, valueKeys, values: t.values, label: t.label }));
    assert.deepEqual(shape(answers[1]), shape(answers[0]));
    assert.equal(answers[0].rows.length, 3);
  });
});
