/**
 * memstats-shm: an exact, very fast cross-process memory statistics registry
 * in POSIX shared memory, for Bun and Deno.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry } from "@memstats/shm";
 *
 * const reg = MemoryStatsRegistry.open("/memstats-example");
 * const slot = reg.registerSlot({ label: "main" });
 * slot?.set(1 << 20);
 * console.log(reg.aggregateStats().totalArenaBytes); // 1048576
 * reg.close();
 * MemoryStatsRegistry.unlink("/memstats-example");
 * ```
 *
 * @module
 */
export { MemoryStatsRegistry } from "./src/registry.ts";
export type { OpenOptions, RegisterOptions, SegmentInfo } from "./src/registry.ts";
export type { SegmentFileInfo } from "./src/segment.ts";
export { SlotHandle } from "./src/slot.ts";
export type { AggregateMemoryStats, ThreadMemoryStats } from "./src/reader.ts";
export { MemstatsError } from "./src/errors.ts";
export type { MemstatsErrorCode } from "./src/errors.ts";
export {
  currentSlot,
  defaultSegment,
  getOrRegisterSlot,
  memoryRegistry,
  updateArenaStats,
} from "./src/default.ts";
export { installDiagnostics } from "./src/diagnostics.ts";
export type { Diagnostics, DiagnosticsOptions } from "./src/diagnostics.ts";
export { SAMPLER_FIELDS, startSampler } from "./src/sampler.ts";
export type { Sampler, SamplerOptions } from "./src/sampler.ts";
export type { DiagnosticSignal } from "./src/ffi/types.ts";
