/** Per-inference summaries of a probability vector. All O(K); no allocation. */
export interface OutputStatistics {
  predictedClass: number;
  maxSoftmax: number;
  /** Entropy divided by ln K, in [0, 1]. */
  entropy: number;
  /** top1 − top2. */
  margin: number;
}

export function outputStatistics(p: ArrayLike<number>): OutputStatistics {
  const k = p.length;
  let top = -Infinity;
  let second = -Infinity;
  let arg = 0;
  let total = 0;
  for (let i = 0; i < k; i++) total += Math.max(0, p[i]!);
  const norm = total > 0 ? total : 1;
  let h = 0;
  for (let i = 0; i < k; i++) {
    const v = Math.max(0, p[i]!) / norm;
    if (v > top) {
      second = top;
      top = v;
      arg = i;
    } else if (v > second) second = v;
    if (v > 0) h -= v * Math.log(v);
  }
  return {
    predictedClass: arg,
    maxSoftmax: top,
    entropy: k > 1 ? Math.min(1, h / Math.log(k)) : 0,
    margin: k > 1 ? top - Math.max(0, second) : top,
  };
}
