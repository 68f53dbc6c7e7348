/**
 * Cosine decay from `peak` at step 0 to `peak · floor` at the last step. Defined on the global
 * step, so a resumed run picks up the exact rate the uninterrupted run would use.
 */
export function cosineLearningRate(peak: number, step: number, totalSteps: number, floor = 0.01): number {
  if (totalSteps <= 1) return peak;
  const t = Math.min(1, Math.max(0, step / (totalSteps - 1)));
  return peak * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * t)));
}
