/**
 * Numbers and durations in human units, shared by the terminal reports and
 * the dashboard's script (which `scripts/embed_dashboard.ts` bundles for the
 * browser, so this module imports nothing).
 *
 * @module
 */

/** Whether a field holds bytes (shown in KiB, MiB, ...) rather than a count. */
export function isByteField(field: string): boolean {
  return /bytes|rss|heap|external|arena|memory/i.test(field);
}

function threeDigits(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** `1536` → `"1.50K"`: binary units, K = KiB, M = MiB, G = GiB, T = TiB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return n < 1024 ? `${n}B` : scaled(n, 1024, "KMGTP");
}

/** `1500` → `"1.50k"`: decimal units for counts. */
export function formatCount(n: number): string {
  return !Number.isFinite(n) || n < 1000 ? String(n) : scaled(n, 1000, "kMGTP");
}

/** `n` (at least `base`) in the largest unit of `units` (one letter each, `base` apart) below it. */
function scaled(n: number, base: number, units: string): string {
  let v = n / base;
  let u = 0;
  while (v >= base && u < units.length - 1) {
    v /= base;
    u++;
  }
  return threeDigits(v) + units[u];
}

/** A field value in human units. */
export function formatValue(field: string, n: number): string {
  return isByteField(field) ? formatBytes(n) : formatCount(n);
}

/** A duration in ms as `"0.4s"`, `"12s"`, `"3m05s"`, `"2h10m"`, `"3d04h"`. */
export function formatAge(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 10) return `${s.toFixed(1)}s`;
  if (s < 60) return `${Math.floor(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, "0")}h`;
}
