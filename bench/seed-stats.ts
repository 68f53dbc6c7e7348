/**
 * Statistics over seeds for the distillation benchmark: mean, sample standard deviation, and a
 * paired t-interval for the difference of two methods run on the same seeds (same teacher, same
 * student initialisation per seed, so the seed is the pairing unit).
 */
export interface Summary {
  mean: number;
  sd: number;
  n: number;
}

export function summarize(xs: readonly number[]): Summary {
  const n = xs.length;
  const mean = n ? xs.reduce((a, b) => a + b, 0) / n : NaN;
  const sd = n < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  return { mean, sd, n };
}

/** Two-sided 97.5% quantiles of Student's t for 1–30 degrees of freedom (standard tables). */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

export function t975(df: number): number {
  if (!(df >= 1)) return NaN;
  return T975[Math.min(df, T975.length) - 1]!;
}

export interface PairedDiff {
  meanDiff: number;
  /** 95% t-interval of the mean difference; null with fewer than two pairs (no spread to estimate). */
  ci95: [number, number] | null;
  n: number;
}

/** a − b over the seeds both have. */
export function pairedDifference(a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): PairedDiff {
  const d: number[] = [];
  for (const [seed, va] of a) {
    const vb = b.get(seed);
    if (vb !== undefined) d.push(va - vb);
  }
  const s = summarize(d);
  if (s.n < 2) return { meanDiff: s.mean, ci95: null, n: s.n };
  const half = (t975(s.n - 1) * s.sd) / Math.sqrt(s.n);
  return { meanDiff: s.mean, ci95: [s.mean - half, s.mean + half], n: s.n };
}
