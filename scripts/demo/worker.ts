/**
 * Demo Worker thread: registers its own slot, samples its own memory, and
 * runs jobs for its HTTP server. A job allocates `kb` KiB (a buffer plus
 * some JS objects, so both external memory and heap move), holds it for
 * `holdMs` like a cache entry, then lets it go. `arena_bytes` is the bytes
 * this thread holds right now. Runs as a Bun or Deno Worker and as a Node
 * `worker_threads` Worker.
 */
import { MemoryStatsRegistry, type SlotHandle, startSampler } from "../../mod.ts";
import { parent } from "../../tests/fixtures/threads.ts";

let reg: MemoryStatsRegistry | undefined;
let slot: SlotHandle | null = null;
let held = 0;
let jobs = 0;

function job(kb: number, holdMs: number): number {
  const buf = new Uint8Array(kb * 1024);
  for (let i = 0; i < buf.length; i += 4096) buf[i] = (i >> 12) & 0xff;
  const rows = Array.from({ length: kb * 4 }, (_, i) => ({ i, v: buf[(i * 4096) % buf.length] }));
  held += buf.length;
  jobs++;
  slot?.update({ arena_bytes: held, requests: jobs });
  setTimeout(() => {
    held -= buf.length;
    slot?.set("arena_bytes", held);
  }, holdMs);
  return rows.length;
}

parent.onMessage((m) => {
  if (m.op === "start") {
    reg = MemoryStatsRegistry.open(m.segment, { create: false });
    slot = reg.registerSlot({ label: m.label });
    if (slot) startSampler(reg, { slot, intervalMs: 250 });
    parent.post({ op: "ready" });
  } else if (m.op === "job") {
    parent.post({ op: "done", id: m.id, rows: job(m.kb, m.holdMs) });
  } else if (m.op === "close") {
    reg?.close(); // releases the slot before the thread goes
    parent.post({ op: "closed" });
  }
});
