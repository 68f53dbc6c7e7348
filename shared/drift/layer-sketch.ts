import { MAX_LAYER_SKETCHES, MIN_LAYER_SKETCH_SAMPLES, type LayerSketch, type LayerSketchSpec } from './reference';

/**
 * Pools the per-inference rows of the student's sketch outputs (per-channel spatial means of x and
 * x² of each sketched BatchNorm input) over a report period. Over n inferences the pooled mean is
 * mean(m) and the variance over samples and positions is mean(q) − mean(m)², the quantity a
 * BatchNorm's running variance tracks (all samples have the same positions, so equal weights are
 * exact). Only these sums are kept; no row survives the call that adds it.
 */
export class LayerSketchAccumulator {
  private sums: Array<{ m: Float64Array; q: Float64Array }>;
  private n = 0;

  constructor(readonly specs: readonly LayerSketchSpec[]) {
    this.sums = specs.slice(0, MAX_LAYER_SKETCHES).map((s) => ({ m: new Float64Array(s.channels), q: new Float64Array(s.channels) }));
  }

  /**
   * Adds one inference: `row(output)` returns that inference's row of an ONNX output, or undefined
   * when the model did not produce it. An inference missing any sketched output, or with a row of
   * the wrong width or a non-finite value, is not counted at all (every layer pools the same n).
   */
  add(row: (output: string) => ArrayLike<number> | undefined): boolean {
    const rows: Array<[ArrayLike<number>, ArrayLike<number>]> = [];
    for (let l = 0; l < this.sums.length; l++) {
      const s = this.specs[l]!;
      const m = row(s.meanOutput);
      const q = row(s.meanSquareOutput);
      if (!m || !q || m.length !== s.channels || q.length !== s.channels) return false;
      for (let c = 0; c < s.channels; c++) if (!Number.isFinite(m[c]!) || !Number.isFinite(q[c]!)) return false;
      rows.push([m, q]);
    }
    rows.forEach(([m, q], l) => {
      const acc = this.sums[l]!;
      for (let c = 0; c < m.length; c++) {
        acc.m[c] += m[c]!;
        acc.q[c] += q[c]!;
      }
    });
    this.n++;
    return true;
  }

  get count(): number {
    return this.n;
  }

  /** The period's sketches, or undefined below the privacy floor of `MIN_LAYER_SKETCH_SAMPLES`. */
  build(minSamples = MIN_LAYER_SKETCH_SAMPLES): LayerSketch[] | undefined {
    if (this.sums.length === 0 || this.n < Math.max(minSamples, MIN_LAYER_SKETCH_SAMPLES)) return undefined;
    return this.sums.map((a, l) => {
      const mean = Array.from(a.m, (v) => v / this.n);
      return { layer: this.specs[l]!.layer, mean, variance: Array.from(a.q, (v, c) => Math.max(0, v / this.n - mean[c]! ** 2)), sampleCount: this.n };
    });
  }

  reset(): void {
    for (const a of this.sums) {
      a.m.fill(0);
      a.q.fill(0);
    }
    this.n = 0;
  }
}

/**
 * Pools sketches of the same layer from several reports (devices, periods) into one, weighting each
 * by its sample count: the pooled mean is the weighted mean, the pooled variance adds the spread of
 * the report means (law of total variance). Layers whose channel counts disagree between reports
 * are dropped rather than mixed.
 */
export function poolLayerSketches(sketches: readonly LayerSketch[]): LayerSketch[] {
  const byLayer = new Map<string, LayerSketch[]>();
  for (const s of sketches) byLayer.set(s.layer, [...(byLayer.get(s.layer) ?? []), s]);
  const out: LayerSketch[] = [];
  for (const [layer, list] of byLayer) {
    const c = list[0]!.mean.length;
    if (list.some((s) => s.mean.length !== c || s.variance.length !== c)) continue;
    const n = list.reduce((a, s) => a + s.sampleCount, 0);
    const mean = Array.from({ length: c }, (_, i) => list.reduce((a, s) => a + s.sampleCount * s.mean[i]!, 0) / n);
    const variance = Array.from({ length: c }, (_, i) => list.reduce((a, s) => a + s.sampleCount * (s.variance[i]! + (s.mean[i]! - mean[i]!) ** 2), 0) / n);
    out.push({ layer, mean, variance, sampleCount: n });
  }
  return out;
}
