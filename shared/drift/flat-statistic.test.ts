import { describe, expect, it } from 'vitest';
import { inputStatistics, INPUT_STATISTIC_NAMES } from './input-statistics';
import { createRandom } from '../random/seeded-random';
import { buildDriftReference } from './build-reference';
import { DriftReport } from './reference';
import { Value } from 'typebox/value';

const grey = (h: number, w: number) => ({ height: h, width: w, channels: 1, range: [-1, 1] as const });

/** An h×w grey image of `background` with a `side`×`side` square of `level` at (top, left). */
function square(h: number, w: number, background: number, level: number, top: number, left: number, side: number): Float32Array {
  const x = new Float32Array(h * w).fill(background);
  for (let r = top; r < top + side; r++) for (let c = left; c < left + side; c++) x[r * w + c] = level;
  return x;
}

describe('the flat input statistic', () => {
  it('counts a uniform unsaturated square: every value whose right and lower neighbours match, not its last row and column', () => {
    // A 4×4 mid-grey square on a black (saturated) 10×10 background: the square's values bordering
    // the background on the right or below are not flat, so (4 − 1)² = 9 of 100 are.
    const s = inputStatistics(square(10, 10, -1, 0, 2, 3, 4), grey(10, 10));
    expect(s.flat).toBeCloseTo(9 / 100, 12);
    expect(s.saturation).toBeCloseTo(84 / 100, 12);
  });

  it('does not count a saturated background, black or white, nor values at the tolerance of either end', () => {
    expect(inputStatistics(new Float32Array(64).fill(-1), grey(8, 8)).flat).toBe(0);
    expect(inputStatistics(new Float32Array(64).fill(1), grey(8, 8)).flat).toBe(0);
    // 1% of the range [-1, 1] is 0.02: -0.98 is saturated, -0.97 is not.
    expect(inputStatistics(new Float32Array(64).fill(-0.98), grey(8, 8)).flat).toBe(0);
    expect(inputStatistics(new Float32Array(64).fill(-0.97), grey(8, 8)).flat).toBeCloseTo(63 / 64, 12);
  });

  it('counts a whole uniform unsaturated image but its bottom-right corner, which has no neighbour to compare with', () => {
    expect(inputStatistics(new Float32Array(12).fill(0.3), grey(3, 4)).flat).toBeCloseTo(11 / 12, 12);
    expect(inputStatistics(new Float32Array(1).fill(0.3), grey(1, 1)).flat).toBe(0);
  });

  it('does not count noise, and a step smaller than 1% of the range is still flat while a larger one is not', () => {
    const r = createRandom(3);
    const noisy = Float32Array.from({ length: 28 * 28 }, () => Math.max(-0.9, Math.min(0.9, 0.2 * r.normal())));
    expect(inputStatistics(noisy, grey(28, 28)).flat).toBeLessThan(0.01);
    // A horizontal ramp rising 0.019 per column (under the 0.02 tolerance) is flat; 0.021 per column is not.
    const ramp = (step: number) => Float32Array.from({ length: 64 }, (_, i) => -0.5 + (i % 8) * step);
    expect(inputStatistics(ramp(0.019), grey(8, 8)).flat).toBeCloseTo(63 / 64, 12);
    expect(inputStatistics(ramp(0.021), grey(8, 8)).flat).toBeCloseTo(7 / 64, 12); // the last column: only its lower neighbour
  });

  it('compares each colour channel with the same channel of its neighbours', () => {
    // 4×4 RGB: channel 0 uniform grey, channel 1 alternating ±0.5 along rows, channel 2 black.
    const g = { height: 4, width: 4, channels: 3, range: [0, 1] as const };
    const x = new Float32Array(48);
    for (let p = 0; p < 16; p++) {
      x[p * 3] = 0.5;
      x[p * 3 + 1] = p % 2 === 0 ? 0.25 : 0.75;
      x[p * 3 + 2] = 0;
    }
    // Channel 0: 15 of 16 flat; channel 1: only the last column (vertical neighbour equal, none on
    // the right) minus the corner: 3; channel 2: saturated, none. Interleaved neighbours (another
    // channel) would have made channel 0 look busy.
    expect(inputStatistics(x, g).flat).toBeCloseTo((15 + 3) / 48, 12);
  });

  it('is one of the statistics every drift reference carries, and a report with or without it is valid', () => {
    expect(INPUT_STATISTIC_NAMES).toContain('flat');
    const x = square(8, 8, -1, 0, 2, 2, 4);
    const ref = buildDriftReference(
      [0, 1].map((i) => ({ predictedClass: i, maxSoftmax: 0.9, entropy: 0.1, margin: 0.5, input: inputStatistics(x, grey(8, 8)) })),
      { numClasses: 2, source: 'synthetic' },
    );
    expect(ref.inputStatistics!.map((s) => s.name)).toContain('flat');
    const report = { version: 1, modelId: 'm', modelVersion: '1', periodStart: 0, periodEnd: 1, sampleCount: 2, windowSize: 512, windowsEvaluated: 0, referenceSource: 'manifest', classCounts: [1, 1], detectors: [], alarm: { active: false, detectors: [], breachedWindows: 0 } };
    const stat = (name: string) => ({ name, counts: [2], mean: 0.1 });
    expect(Value.Check(DriftReport, { ...report, inputStatistics: [stat('mean'), stat('flat')] })).toBe(true);
    expect(Value.Check(DriftReport, { ...report, inputStatistics: [stat('mean')] })).toBe(true);
  });
});
