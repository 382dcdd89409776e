/**
 * The `show --json` document of a {@linkcode Frame}, written in chunks:
 * byte for byte what `JSON.stringify(snapshotJson(...), null, 2)` gives, one
 * slot object at a time, so a table of 65,536 slots never becomes one
 * string.
 *
 * `/api/snapshot?limit=N` lists only the first N live slots (slot order),
 * as the dashboard asks; a document that leaves live slots out says how
 * many in `omittedSlots` (absent when every live slot is listed). With
 * `--totals-only` no slot is listed.
 *
 * @module
 */
import { slotJson, snapshotJson, snapshotOf } from "../report.ts";
import { rowRecord } from "../table.ts";
import type { Frame } from "./source.ts";

/** Options of {@linkcode snapshotJsonChunks}. */
export interface JsonOptions {
  /** List at most this many slots (default: all). */
  readonly limit?: number;
  /** A chunk is yielded once it holds at least this many characters (default 65,536). */
  readonly chunkSize?: number;
}

/** How many slots the document of `frame` lists. */
export function listedSlots(frame: Frame, limit = Infinity): number {
  return frame.perSlot ? Math.min(frame.table.count, Math.max(0, limit)) : 0;
}

/**
 * The JSON document of `frame`, in chunks; joined, they are the document
 * followed by a line feed.
 *
 * @example
 * ```ts
 * import { SegmentSource } from "./source.ts";
 * import { snapshotJsonChunks } from "./json.ts";
 * const s = new SegmentSource("/memstats-1000").read();
 * if (s.up) console.log([...snapshotJsonChunks(s.frame, { limit: 10 })].join(""));
 * ```
 */
export function* snapshotJsonChunks(
  frame: Frame,
  options: JsonOptions = {},
): Generator<string, void, undefined> {
  const t = frame.table;
  const { slots: _, ...doc } = snapshotJson(snapshotOf(frame.info, t, []));
  const listed = listedSlots(frame, options.limit);
  const omitted = t.count - listed;
  const text = JSON.stringify(omitted > 0 ? { ...doc, omittedSlots: omitted } : doc, null, 2);
  // `{ ... }` without its closing brace, then the slots as JSON.stringify would indent them.
  let out = text.slice(0, -2) + ',\n  "slots": [';
  const size = options.chunkSize ?? 65_536;
  for (let k = 0; k < listed; k++) {
    out += (k === 0 ? "\n    " : ",\n    ") +
      JSON.stringify(slotJson(rowRecord(t, k)), null, 2).replace(/\n/g, "\n    ");
    if (out.length >= size) {
      yield out;
      out = "";
    }
  }
  yield out + (listed > 0 ? "\n  ]\n}\n" : "]\n}\n");
}
