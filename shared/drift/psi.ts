/**
 * Population stability index Σ (a − e)·ln(a / e) over bins, on proportions. Empty bins are
 * floored at `epsilon` so one empty bin does not make the index infinite (the usual convention).
 * Rule of thumb: < 0.1 stable, 0.1–0.25 moderate, > 0.25 significant.
 */
export function populationStabilityIndex(expected: readonly number[], actual: readonly number[], epsilon = 1e-4): number {
  if (expected.length !== actual.length) throw new RangeError(`populationStabilityIndex: length ${expected.length} vs ${actual.length}`);
  const se = expected.reduce((a, b) => a + b, 0);
  const sa = actual.reduce((a, b) => a + b, 0);
  if (se <= 0 || sa <= 0) return 0;
  let psi = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = Math.max(expected[i]! / se, epsilon);
    const a = Math.max(actual[i]! / sa, epsilon);
    psi += (a - e) * Math.log(a / e);
  }
  return psi;
}
