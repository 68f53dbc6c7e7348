import { normalSurvival } from './special-functions';

export interface ProportionTestResult {
  /** Window rate minus reference rate. */
  difference: number;
  z: number;
  /** Two-sided p-value. */
  pValue: number;
}

/** Two-proportion z-test with pooled variance: x1 of n1 (window) against x2 of n2 (reference). */
export function twoProportionTest(x1: number, n1: number, x2: number, n2: number): ProportionTestResult {
  if (n1 <= 0 || n2 <= 0) return { difference: 0, z: 0, pValue: 1 };
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (se === 0) return { difference: p1 - p2, z: 0, pValue: 1 };
  const z = (p1 - p2) / se;
  return { difference: p1 - p2, z, pValue: Math.min(1, 2 * normalSurvival(Math.abs(z))) };
}
