import type { TopKEntry } from '../../shared/protocol';

/** Softmax in place per row (for models whose head output is logits). */
export function softmaxRows(values: Float32Array, classes: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < values.length / classes; r++) {
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, values[r * classes + c]!);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[r * classes + c] = Math.exp(values[r * classes + c]! - max);
    for (let c = 0; c < classes; c++) out[r * classes + c]! /= sum;
  }
  return out;
}

/** The k most probable classes of each row, best first; ties keep the lower index first. */
export function topK(probabilities: Float32Array, classes: number, k: number, labels: readonly string[] = []): TopKEntry[][] {
  const rows: TopKEntry[][] = [];
  const kk = Math.min(k, classes);
  for (let r = 0; r < probabilities.length / classes; r++) {
    const idx = Array.from({ length: classes }, (_, c) => c);
    idx.sort((a, b) => probabilities[r * classes + b]! - probabilities[r * classes + a]! || a - b);
    rows.push(
      idx.slice(0, kk).map((c) => {
        const e: TopKEntry = { index: c, probability: probabilities[r * classes + c]! };
        if (labels[c] !== undefined) e.label = labels[c];
        return e;
      }),
    );
  }
  return rows;
}

/** argmax and max of each row. */
export function rowArgmax(probabilities: Float32Array, classes: number): { index: number[]; max: number[] } {
  const index: number[] = [];
  const max: number[] = [];
  for (let r = 0; r < probabilities.length / classes; r++) {
    let bi = 0;
    for (let c = 1; c < classes; c++) if (probabilities[r * classes + c]! > probabilities[r * classes + bi]!) bi = c;
    index.push(bi);
    max.push(probabilities[r * classes + bi]!);
  }
  return { index, max };
}

/** Nearest-rank percentile of a list of numbers; null for an empty list. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}
