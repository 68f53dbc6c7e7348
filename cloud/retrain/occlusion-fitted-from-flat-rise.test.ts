import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadFashionMnist } from '../data';
import { loadBuffer } from '../distill/buffer-file';
import { applyImageShift, type ImageShiftKind } from '../../shared/drift/shifts';
import { inputStatistics } from '../../shared/drift/input-statistics';
import type { InputStatisticMeans } from '../../shared/drift/pool-input-statistics';
import { createRandom } from '../../shared/random/seeded-random';
import { fitDegradation } from './fit-degradation';
import { planFieldImitation, FIELD_IMITATION_FIT_SAMPLES, MIN_FIELD_CHANGE } from './field-imitation-step';
import { fitOcclusionFromFlat, FLAT_RISE_UNIT, MIN_FLAT_RISE } from './fit-occlusion-from-flat';

const G = { height: 28, width: 28, channels: 1, range: [-1, 1] as const };
const SIZE = 784;
const WINDOW = 2000;

// The field: Fashion-MNIST training images (a test stands in for the devices); the fit only ever
// sees the committed student's synthetic buffer, as the retrain does.
const train = loadFashionMnist().train;
const buffer = loadBuffer(join(__dirname, '../../models/students/official-fashion-mnist-fbe-lenet5-bn'));
const order = Array.from({ length: train.count }, (_, i) => i);
const shuffle = createRandom(7);
for (let i = order.length - 1; i > 0; i--) {
  const j = shuffle.int(i + 1);
  [order[i], order[j]] = [order[j]!, order[i]!];
}

/** Period means a device would report over window `w` of the shuffled images, shifted or not. */
function fieldMeans(w: number, shift?: { kind: ImageShiftKind; severity: number }): InputStatisticMeans & { flat: number } {
  const random = createRandom(11 + w);
  const acc = { mean: 0, std: 0, gradient: 0, saturation: 0, flat: 0 };
  for (let i = 0; i < WINDOW; i++) {
    const k = order[w * WINDOW + i]!;
    const x = train.images.subarray(k * SIZE, (k + 1) * SIZE);
    const s = inputStatistics(shift ? applyImageShift(x, shift.kind, shift.severity, G, random) : x, G);
    for (const name of Object.keys(acc) as Array<keyof typeof acc>) acc[name] += s[name] / WINDOW;
  }
  return acc;
}

const baseline = fieldMeans(0);

const samples = buffer.gather(Array.from({ length: FIELD_IMITATION_FIT_SAMPLES }, (_, i) => i));
const primaryFit = (field: InputStatisticMeans) => fitDegradation({ samples, count: FIELD_IMITATION_FIT_SAMPLES, geometry: G, baseline, field });
// The benchmark's occluder side per severity (shared/drift/shifts.ts).
const SIDE = [0.15, 0.22, 0.3, 0.4, 0.5];

describe('occlusion fitted from the rise of flat', () => {
  it.each([1, 2, 3])('an occluded Fashion-MNIST window (severity %i) against a clean one: the four statistics see nothing, the flat stage fits occlusion of the true size', (severity) => {
    const field = fieldMeans(1, { kind: 'occlusion', severity });
    expect(primaryFit(field).noneDistance).toBeLessThan(MIN_FIELD_CHANGE);
    const plan = planFieldImitation({ buffer, geometry: G, inputShift: { baseline, field } });
    expect(plan.use).toBe(true);
    expect(plan.fit).toMatchObject({ degradation: { kind: 'occlusion', amount: SIDE[severity - 1] }, stage: 'flat-rise' });
    expect(plan.fit!.noneDistance).toBeCloseTo((field.flat - baseline.flat) / FLAT_RISE_UNIT, 9);
    // Within 1.5 units (0.0045 of flat fraction) of the field's rise: neighbouring sides of the grid
    // differ by 0.019 or more, so the fit is not a near tie.
    expect(plan.fit!.distance).toBeLessThan(1.5);
  }, 60_000);

  it.each([4, 5])('a larger occluder (severity %i), which the four statistics already see, is fitted by them as before', (severity) => {
    const field = fieldMeans(1, { kind: 'occlusion', severity });
    const plan = planFieldImitation({ buffer, geometry: G, inputShift: { baseline, field } });
    expect(plan.fit).toEqual(primaryFit(field));
    expect(plan.fit!.degradation.kind).toBe('occlusion');
  }, 60_000);

  it('two clean windows differ by less than the threshold, and nothing is fitted', () => {
    for (const w of [1, 2, 3]) {
      const field = fieldMeans(w);
      expect(Math.abs(field.flat - baseline.flat)).toBeLessThan(MIN_FLAT_RISE / 2);
      expect(fitOcclusionFromFlat({ samples, count: FIELD_IMITATION_FIT_SAMPLES, geometry: G, baseline, field })).toBeNull();
      const plan = planFieldImitation({ buffer, geometry: G, inputShift: { baseline, field } });
      expect(plan).toMatchObject({ use: false, reason: expect.stringMatching(/no degradation to fit/) });
      expect(plan.fit!.stage).toBeUndefined();
    }
  }, 60_000);

  it('without flat on either side (reports of older agents) the occlusion falls back as before', () => {
    const { flat: _f, ...field } = fieldMeans(1, { kind: 'occlusion', severity: 3 });
    const { flat: _b, ...old } = baseline;
    for (const inputShift of [{ baseline: old, field }, { baseline, field }, { baseline: old, field: { ...field, flat: baseline.flat + 0.06 } }]) {
      const plan = planFieldImitation({ buffer, geometry: G, inputShift });
      expect(plan).toMatchObject({ use: false, reason: expect.stringMatching(/no degradation to fit/) });
    }
  }, 60_000);

  it.each((['contrast', 'brightness', 'blur', 'noise'] as const).flatMap((kind) => [1, 3, 5].map((severity) => [kind, severity] as const)))('the other kinds (%s, severity %i) keep the fit of the four statistics', (kind, severity) => {
    const field = fieldMeans(1, { kind, severity });
    const plan = planFieldImitation({ buffer, geometry: G, inputShift: { baseline, field } });
    expect(plan.fit).toEqual(primaryFit(field));
    expect(plan.fit!.stage).toBeUndefined();
  }, 60_000);
});
