/**
 * Benjamini–Hochberg step-up procedure: controls the expected fraction of false discoveries among
 * the rejected hypotheses at `q` (for independent or positively dependent tests). Returns, per
 * input p-value, whether it is rejected, and the BH-adjusted p-values (monotone, capped at 1).
 */
export function benjaminiHochberg(pValues: readonly number[], q: number): { rejected: boolean[]; adjusted: number[] } {
  const m = pValues.length;
  const order = pValues.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0]);
  const adjusted = new Array<number>(m).fill(1);
  let running = 1;
  for (let r = m - 1; r >= 0; r--) {
    const [p, i] = order[r]!;
    running = Math.min(running, (p * m) / (r + 1));
    adjusted[i] = Math.min(1, running);
  }
  let cutoff = -1;
  for (let r = 0; r < m; r++) if (order[r]![0] <= ((r + 1) / m) * q) cutoff = r;
  const rejected = new Array<boolean>(m).fill(false);
  for (let r = 0; r <= cutoff; r++) rejected[order[r]![1]] = true;
  return { rejected, adjusted };
}
