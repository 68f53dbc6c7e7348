import type { TopKEntry } from '../../shared/protocol';

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
