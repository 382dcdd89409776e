/**
 * memstats-shm: an exact, very fast cross-process memory statistics registry
 * in POSIX shared memory, for Bun and Deno.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry } from "@memstats/shm";
 *
 * using reg = MemoryStatsRegistry.open("/memstats-example");
 * using slot = reg.registerSlot({ label: "main" });
 * slot?.set(1 << 20);
 * console.log(reg.aggregateStats().totalArenaBytes); // 1048576
 * MemoryStatsRegistry.unlink("/memstats-example");
 * ```
 *
 * @module
 */
export { MemoryStatsRegistry } from "./src/registry.ts";
export type { OpenOptions, RegisterOptions, SegmentInfo } from "./src/registry.ts";
export type { SegmentFileInfo, SegmentOptions } from "./src/segment.ts";
export type { FieldKind, FieldSpec } from "./src/names.ts";
export type { SlotHandle } from "./src/slot.ts";
export type { AggregateMemoryStats, TableSnapshot, ThreadMemoryStats } from "./src/table.ts";
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
export type { DiagnosticSignal } from "./src/runtime/types.ts";
