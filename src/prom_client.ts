/**
 * prom-client integration: one call makes a process's existing prom-client
 * registry expose every process's and every thread's memory figures from a
 * memstats-shm segment, so any one worker of a `node:cluster` or PM2 app
 * answers `/metrics` for all of them. It replaces prom-client's
 * `AggregatorRegistry`, which asks every worker over IPC at each scrape.
 *
 * The series are exactly those of `memstats serve` and `memstats show
 * --prom` (`memstats_slot_value{segment,slot,pid,tid,label,field}`,
 * `memstats_segment_value{segment,field}`, ..., `memstats_overflow_total`):
 * each scrape reads the table once, renders it as `memstats serve` does and
 * hands the samples to prom-client, which adds the registry's default labels
 * and writes them in its own format (0.0.4 or OpenMetrics). Field names end
 * in their unit (`rss_bytes`, `heap_used_bytes`), as prom-client's own
 * metric names do.
 *
 * prom-client is not imported here: pass your registry (prom-client 14 or
 * newer; tested with 15). Every process sees the whole table, so each
 * metric declares the aggregator `first`: should the series also pass
 * through an `AggregatorRegistry`, they are taken once, not summed over
 * workers.
 *
 * @example
 * ```ts ignore
 * import { register } from "prom-client";
 * import { MemoryStatsRegistry, startSampler } from "@memstats/shm";
 * import { registerPromClientCollector } from "@memstats/shm/prom-client";
 *
 * const registry = MemoryStatsRegistry.open("/memstats-myapp");
 * startSampler(registry, { label: `worker-${process.pid}` });
 * registerPromClientCollector(registry, register);
 * // `await register.metrics()` now includes every process's memstats_slot_value series.
 * ```
 *
 * @module
 */
import { MemstatsError } from "./errors.ts";
import type { MemoryStatsRegistry } from "./registry.ts";
import { takeSnapshot } from "./report.ts";
import { renderProm } from "./report_prom.ts";

/**
 * The part of a prom-client `Registry` this module uses. prom-client's
 * types accept only its own metric classes in `registerMetric`, so the
 * parameter is typed to take anything a `Registry` takes; what is passed is
 * a {@linkcode PromClientMetric}, the shape a `Registry` reads.
 */
export interface PromClientRegistry {
  /** Add a metric; prom-client throws when the name is taken. */
  registerMetric(metric: never): void;
  /** Remove the metric of that name. */
  removeSingleMetric(name: string): void;
}

/** One sample as prom-client's registry reads it from a metric. */
export interface PromClientSample {
  /** Label names and values. */
  readonly labels: Readonly<Record<string, string>>;
  /** The value. */
  readonly value: number;
}

/** What a metric's `get()` resolves to, in prom-client's shape. */
export interface PromClientMetricData {
  /** Metric name. */
  readonly name: string;
  /** Help text. */
  readonly help: string;
  /** Metric type. */
  readonly type: "gauge" | "counter";
  /** How an `AggregatorRegistry` combines workers' values: each worker sees the whole table, so `first`. */
  readonly aggregator: "first";
  /** The samples. */
  readonly values: readonly PromClientSample[];
}

/** A metric as prom-client's registry drives it: a name, a type, and `get()` at every scrape. */
export interface PromClientMetric {
  /** Metric name (prom-client renames a counter's in OpenMetrics output). */
  name: string;
  /** Help text. */
  readonly help: string;
  /** Metric type. */
  readonly type: "gauge" | "counter";
  /** See {@linkcode PromClientMetricData.aggregator}. */
  readonly aggregator: "first";
  /** The current samples: one read of the table per scrape, shared by every family. */
  get(): Promise<PromClientMetricData>;
  /** Nothing to reset: the values are read from the segment at every scrape. */
  reset(): void;
}

/** What {@linkcode registerPromClientCollector} returns. */
export interface PromClientCollector extends Disposable {
  /** The metric names added to the prom-client registry. */
  readonly names: readonly string[];
  /** Remove the metrics from the prom-client registry; do it before closing the memstats registry. Idempotent. */
  unregister(): void;
}

interface Family {
  name: string;
  help: string;
  type: "gauge" | "counter";
  values: PromClientSample[];
}

const SPECIAL: Readonly<Record<string, number>> = { "NaN": NaN, "+Inf": Infinity, "-Inf": -Infinity };

function unescape(s: string): string {
  return s.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
}

const SAMPLE = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * The families of a text exposition in format 0.0.4 as `renderProm` writes
 * it (every family with HELP and TYPE lines, then its samples; no
 * timestamps), by name, in order.
 */
function parseExposition(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  const family = (name: string) => {
    let f = out.get(name);
    if (!f) out.set(name, f = { name, help: "", type: "gauge", values: [] });
    return f;
  };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# HELP ")) {
      const [, name, help = ""] = /^# HELP (\S+) ?(.*)$/.exec(line) ?? [];
      family(name).help = unescape(help);
    } else if (line.startsWith("# TYPE ")) {
      const [, name, type] = /^# TYPE (\S+) (\S+)$/.exec(line) ?? [];
      family(name).type = type === "counter" ? "counter" : "gauge";
    } else if (!line.startsWith("#")) {
      const m = SAMPLE.exec(line);
      if (!m) continue;
      const labels: Record<string, string> = {};
      for (const [, k, v] of (m[2] ?? "").matchAll(LABEL)) labels[k] = unescape(v);
      family(m[1]).values.push({ labels, value: SPECIAL[m[3]] ?? Number(m[3]) });
    }
  }
  return out;
}

/**
 * Make `promRegistry` (a prom-client `Registry`, e.g. prom-client's default
 * `register`) expose the memory series of every process and thread in
 * `registry`'s segment, with the names and labels of `memstats serve`.
 * Call it in any process that serves `/metrics`; the registry may be
 * read-only. Throws `INVALID_ARGUMENT` when a memstats metric is already in
 * `promRegistry` (unregister the earlier collector first), and `CLOSED` at
 * a scrape after `registry` was closed.
 *
 * @example
 * ```ts
 * import { MemoryStatsRegistry } from "@memstats/shm";
 * import { type PromClientMetric, registerPromClientCollector } from "@memstats/shm/prom-client";
 *
 * // A stand-in for prom-client's Registry; pass `register` from "prom-client" in an app.
 * const metrics = new Map<string, PromClientMetric>();
 * const promRegistry = {
 *   registerMetric: (m: PromClientMetric) => void metrics.set(m.name, m),
 *   removeSingleMetric: (name: string) => void metrics.delete(name),
 * };
 * using registry = MemoryStatsRegistry.open("/memstats-example");
 * using collector = registerPromClientCollector(registry, promRegistry);
 * const active = await metrics.get("memstats_active_slots")!.get();
 * console.log(collector.names.length, active.values[0].value);
 * ```
 */
export function registerPromClientCollector(
  registry: MemoryStatsRegistry,
  promRegistry: PromClientRegistry,
): PromClientCollector {
  const expose = () => parseExposition(renderProm([takeSnapshot(registry)]));
  let current: Map<string, Family> | undefined;
  // One read per scrape: prom-client calls every metric's get() in one synchronous pass.
  const read = (): Map<string, Family> => {
    if (current) return current;
    current = expose();
    queueMicrotask(() => (current = undefined));
    return current;
  };
  const metrics: PromClientMetric[] = [...expose().values()].map((f) => {
    const metric: PromClientMetric = {
      name: f.name,
      help: f.help,
      type: f.type,
      aggregator: "first",
      get() {
        try {
          const values = read().get(f.name)?.values ?? [];
          return Promise.resolve({
            name: metric.name,
            help: f.help,
            type: f.type,
            aggregator: "first",
            values,
          });
        } catch (e) {
          return Promise.reject(e);
        }
      },
      reset() {},
    };
    return metric;
  });
  const added: PromClientMetric[] = [];
  for (const m of metrics) {
    try {
      promRegistry.registerMetric(m as never); // see PromClientRegistry
    } catch (e) {
      for (const a of added) promRegistry.removeSingleMetric(a.name);
      throw new MemstatsError(
        "INVALID_ARGUMENT",
        `cannot add ${m.name} to the prom-client registry (${(e as Error).message}); ` +
          `call unregister() on the earlier collector, or pass another prom-client Registry`,
      );
    }
    added.push(m);
  }
  let registered = true;
  const unregister = () => {
    if (!registered) return;
    registered = false;
    for (const m of added) promRegistry.removeSingleMetric(m.name);
  };
  return { names: metrics.map((m) => m.name), unregister, [Symbol.dispose]: unregister };
}
