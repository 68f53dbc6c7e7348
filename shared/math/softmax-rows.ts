/**
 * Softmax of each row of a row-major [rows, classes] array, into a new array. The row maximum is
 * subtracted first, so large logits do not overflow `Math.exp`.
 */
export function softmaxRows(logits: Float32Array, classes: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / classes; r++) {
    const at = r * classes;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[at + c]!);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[at + c] = Math.exp(logits[at + c]! - max);
    for (let c = 0; c < classes; c++) out[at + c] = out[at + c]! / sum;
  }
  return out;
}
