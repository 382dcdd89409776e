/**
 * The suite's summary counts what each runner's JUnit report says: the
 * report parser of scripts/test.ts, on the shapes Deno, Bun and Node write.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parseJunit } from "../scripts/test.ts";

describe("test runner reports", () => {
  it("Node's report: a raw '>' inside a name, a failure and a skip", () => {
    const xml = `<?xml version="1.0" encoding="utf-8"?>
<testsuites>
	<testsuite name="demo" tests="3" failures="1" skipped="1">
		<testcase name="kill -QUIT &lt;pid> prints" time="1" classname="demo" file="/x/demo.test.ts">
			<failure type="testCodeFailure" message="expected &lt;report>">stack</failure>
		</testcase>
		<testcase name="b &gt;= a" time="1" classname="demo" file="/x/demo.test.ts"/>
		<testcase name="needs a tool" time="0" classname="demo" file="/x/demo.test.ts">
			<skipped type="skipped" message="tool missing"/>
		</testcase>
	</testsuite>
</testsuites>`;
    const cases = parseJunit(xml, "node");
    assert.deepEqual(cases.map((c) => [c.name, c.failed, c.skipped]), [
      ["demo > kill -QUIT <pid> prints", true, false],
      ["demo > b >= a", false, false],
      ["demo > needs a tool", false, true],
    ]);
    assert.equal(cases[0].message, "expected <report>");
  });

  it("Deno's report: the case per describe that only aggregates its steps is left out", () => {
    const xml = `<testsuites><testsuite name="./tests/x.test.ts">
<testcase name="slot" classname="./tests/x.test.ts"></testcase>
<testcase name="slot &gt; set" classname="./tests/x.test.ts"></testcase>
<testcase name="slot &gt; get" classname="./tests/x.test.ts"><failure message="no">x</failure></testcase>
</testsuite></testsuites>`;
    assert.deepEqual(parseJunit(xml, "deno").map((c) => [c.name, c.failed]), [
      ["slot > set", false],
      ["slot > get", true],
    ]);
  });
});
