import { describe, expect, it } from 'vitest';
import { LayerSketchAccumulator, poolLayerSketches } from './layer-sketch';
import { MIN_LAYER_SKETCH_SAMPLES, parseDriftReport, type LayerSketchSpec } from './reference';
import { createRandom } from '../random/seeded-random';

const spec: LayerSketchSpec[] = [
  { layer: 'a_bn', meanOutput: 'a_m', meanSquareOutput: 'a_q', channels: 2 },
  { layer: 'b_bn', meanOutput: 'b_m', meanSquareOutput: 'b_q', channels: 1 },
];

/** Per-sample spatial rows of positions values per channel, and the exact pooled statistics. */
function samples(n: number, positions: number, seed: number) {
  const r = createRandom(seed);
  const all: number[][] = [[], [], []];
  const rows = Array.from({ length: n }, () => {
    const v = [0, 1, 2].map((c) => Array.from({ length: positions }, () => c + (c + 1) * (r.next() * 2 - 1)));
    v.forEach((xs, c) => all[c]!.push(...xs));
    const mean = v.map((xs) => xs.reduce((a, x) => a + x, 0) / positions);
    const sq = v.map((xs) => xs.reduce((a, x) => a + x * x, 0) / positions);
    return { a_m: mean.slice(0, 2), a_q: sq.slice(0, 2), b_m: mean.slice(2), b_q: sq.slice(2) } as Record<string, number[]>;
  });
  const exact = all.map((xs) => {
    const m = xs.reduce((a, x) => a + x, 0) / xs.length;
    return { m, v: xs.reduce((a, x) => a + (x - m) ** 2, 0) / xs.length };
  });
  return { rows, exact };
}

describe('layer sketches', () => {
  it('pool per-inference rows to the mean and variance over samples and positions, only above the privacy floor', () => {
    const { rows, exact } = samples(300, 9, 1);
    const acc = new LayerSketchAccumulator(spec);
    rows.slice(0, MIN_LAYER_SKETCH_SAMPLES - 1).forEach((row) => acc.add((o) => row[o]));
    expect(acc.build()).toBeUndefined();
    rows.slice(MIN_LAYER_SKETCH_SAMPLES - 1).forEach((row) => acc.add((o) => row[o]));
    const out = acc.build()!;
    expect(out.map((s) => [s.layer, s.sampleCount])).toEqual([['a_bn', 300], ['b_bn', 300]]);
    [...out[0]!.mean, ...out[1]!.mean].forEach((m, c) => expect(m).toBeCloseTo(exact[c]!.m, 9));
    [...out[0]!.variance, ...out[1]!.variance].forEach((v, c) => expect(v).toBeCloseTo(exact[c]!.v, 9));
    const report = { version: 1, modelId: 'm', modelVersion: '1', periodStart: 0, periodEnd: 1, sampleCount: 300, windowSize: 512, windowsEvaluated: 0, referenceSource: 'manifest', classCounts: [300, 0], detectors: [], alarm: { active: false, detectors: [], breachedWindows: 0 }, layerSketches: out };
    expect(parseDriftReport.parse(report).layerSketches).toHaveLength(2);
    expect(() => parseDriftReport.parse({ ...report, layerSketches: [{ ...out[0]!, sampleCount: 10 }] })).toThrow();
    expect(() => parseDriftReport.parse({ ...report, layerSketches: [{ ...out[0]!, mean: new Array(513).fill(0) }] })).toThrow();
    acc.reset();
    expect(acc.count).toBe(0);
  });

  it('does not count an inference with a missing, wrongly sized or non-finite row in any layer', () => {
    const acc = new LayerSketchAccumulator(spec);
    const good: Record<string, number[]> = { a_m: [1, 2], a_q: [1, 4], b_m: [3], b_q: [9] };
    expect(acc.add((o) => good[o])).toBe(true);
    expect(acc.add((o) => (o === 'b_q' ? undefined : good[o]))).toBe(false);
    expect(acc.add((o) => (o === 'a_m' ? [1] : good[o]))).toBe(false);
    expect(acc.add((o) => (o === 'a_q' ? [1, Number.NaN] : good[o]))).toBe(false);
    expect(acc.count).toBe(1);
  });

  it('pools reports of several devices into the statistics of their union (law of total variance)', () => {
    const { rows, exact } = samples(700, 4, 2);
    const a = new LayerSketchAccumulator(spec);
    const b = new LayerSketchAccumulator(spec);
    rows.slice(0, 300).forEach((row) => a.add((o) => row[o]));
    rows.slice(300).forEach((row) => b.add((o) => row[o]));
    const pooled = poolLayerSketches([...a.build()!, ...b.build()!]);
    expect(pooled[0]!.sampleCount).toBe(700);
    pooled[0]!.mean.forEach((m, c) => expect(m).toBeCloseTo(exact[c]!.m, 9));
    pooled[0]!.variance.forEach((v, c) => expect(v).toBeCloseTo(exact[c]!.v, 9));
    expect(poolLayerSketches([{ layer: 'x', mean: [0], variance: [1], sampleCount: 300 }, { layer: 'x', mean: [0, 1], variance: [1, 1], sampleCount: 300 }])).toEqual([]);
  });
});
