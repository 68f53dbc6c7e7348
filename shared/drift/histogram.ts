/**
 * Bin of `x` for increasing `edges` (bins = edges.length − 1): values below the first edge go to
 * bin 0 and values at or above the last edge to the last bin, so no mass is dropped.
 */
export function binIndex(edges: readonly number[], x: number): number {
  const bins = edges.length - 1;
  if (!(x >= edges[0]!)) return 0; // also NaN → first bin
  if (x >= edges[bins]!) return bins - 1;
  let lo = 0;
  let hi = bins;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (x >= edges[mid]!) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Counts per bin. */
export function histogram(edges: readonly number[], values: Iterable<number>): number[] {
  const c = new Array<number>(edges.length - 1).fill(0);
  for (const v of values) c[binIndex(edges, v)]!++;
  return c;
}

