import type { DriftReference, ScoreBand } from './reference';
import type { InferenceSummary } from './summary';
import type { Random } from '../random/seeded-random';
import { scoreWindow, type DetectorName } from './window-detectors';

export interface FitBandsOptions {
  windowSize: number;
  /** Bootstrap windows drawn (with replacement) from the calibration samples. */
  windows: number;
  detectors: readonly DetectorName[];
  random: Random;
}

/**
 * Fits each detector's standardisation band (mean, sd of its window statistic) on bootstrap
 * windows of in-distribution samples. The calibration samples must be disjoint from the samples
 * the reference was built from: otherwise the band misses the reference's own sampling error,
 * which is a fixed offset for every future window, and the false-alarm rate is underestimated.
 * A band's sd is floored at 1% of its mean to keep z finite on degenerate statistics.
 */
export function fitScoreBands(reference: DriftReference, calibration: readonly InferenceSummary[], o: FitBandsOptions): ScoreBand[] {
  if (calibration.length === 0) throw new RangeError('fitScoreBands: no calibration samples');
  const values = new Map<string, number[]>();
  const window: InferenceSummary[] = new Array(o.windowSize);
  for (let b = 0; b < o.windows; b++) {
    for (let i = 0; i < o.windowSize; i++) window[i] = calibration[o.random.int(calibration.length)]!;
    for (const s of scoreWindow(window, reference, o.detectors)) {
      let arr = values.get(s.detector);
      if (!arr) values.set(s.detector, (arr = []));
      arr.push(s.statistic);
    }
  }
  const bands: ScoreBand[] = [];
  for (const [detector, v] of values) {
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, v.length - 1);
    bands.push({ detector, mean, std: Math.max(Math.sqrt(variance), Math.abs(mean) * 0.01, 1e-9), windows: v.length });
  }
  return bands;
}
