import { chiSquareSurvival } from './special-functions';

export interface ChiSquareResult {
  statistic: number;
  df: number;
  pValue: number;
}

/**
 * Two-sample χ² homogeneity test on a 2×K contingency table (window counts vs reference counts).
 * Unlike a goodness-of-fit test against fixed proportions it accounts for the reference being a
 * finite sample too. Categories empty in both rows carry no information and drop out of df.
 */
export function chiSquareTwoSample(a: readonly number[], b: readonly number[]): ChiSquareResult {
  if (a.length !== b.length) throw new RangeError(`chiSquareTwoSample: length ${a.length} vs ${b.length}`);
  const na = sum(a);
  const nb = sum(b);
  if (na === 0 || nb === 0) return { statistic: 0, df: 0, pValue: 1 };
  const n = na + nb;
  let stat = 0;
  let used = 0;
  for (let k = 0; k < a.length; k++) {
    const col = a[k]! + b[k]!;
    if (col === 0) continue;
    used++;
    const ea = (col * na) / n;
    const eb = (col * nb) / n;
    stat += (a[k]! - ea) ** 2 / ea + (b[k]! - eb) ** 2 / eb;
  }
  const df = Math.max(0, used - 1);
  return { statistic: stat, df, pValue: df === 0 ? 1 : chiSquareSurvival(stat, df) };
}

/** Pearson goodness of fit of observed counts to expected proportions (categories with p = 0 skipped). */
export function chiSquareGoodnessOfFit(observed: readonly number[], expected: readonly number[]): ChiSquareResult {
  if (observed.length !== expected.length) throw new RangeError(`chiSquareGoodnessOfFit: length ${observed.length} vs ${expected.length}`);
  const n = sum(observed);
  const pTotal = sum(expected);
  if (n === 0 || pTotal <= 0) return { statistic: 0, df: 0, pValue: 1 };
  let stat = 0;
  let used = 0;
  for (let k = 0; k < observed.length; k++) {
    const e = (expected[k]! / pTotal) * n;
    if (e <= 0) continue;
    used++;
    stat += (observed[k]! - e) ** 2 / e;
  }
  const df = Math.max(0, used - 1);
  return { statistic: stat, df, pValue: df === 0 ? 1 : chiSquareSurvival(stat, df) };
}

function sum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}
