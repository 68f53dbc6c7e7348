/**
 * The p-th percentile (0..100) by nearest rank: the smallest value with at least p % of the list
 * at or below it, always a value of the list; null for an empty list. Latency gates, bake and
 * warm-up reports and the benchmarks all use this one definition, so a p95 means the same thing
 * on a device, in a rollout gate and in BENCHMARKS.md.
 */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}
