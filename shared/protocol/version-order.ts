/**
 * Orders model versions ("3", "1.4.0"): numeric per dot-separated segment, missing segments are
 * 0, so "1.10" > "1.9" and "2" == "2.0". Returns <0, 0, >0 like a sort comparator.
 * Both sides use it: the device for the no-downgrade rule, the cloud to pick rollback targets.
 */
export function compareModelVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}
