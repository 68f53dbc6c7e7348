import { describe, expect, it } from 'vitest';
import { DriftDetector, DEFAULT_DRIFT_CONFIG } from './drift-detector';
import { buildDriftReference } from './build-reference';
import { fitScoreBands } from './fit-bands';
import { createRandom, type Random } from '../random/seeded-random';
import type { InferenceSummary } from './summary';
import { outputStatistics } from './output-statistics';

/** A synthetic 10-class classifier output: confident on clean data, less so under `shift`. */
function fakeInference(r: Random, shift: number): InferenceSummary {
  const logits = Array.from({ length: 10 }, () => r.normal());
  const c = r.int(10);
  logits[c]! += 4 - 2.5 * shift;
  const m = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - m));
  const z = e.reduce((a, b) => a + b, 0);
  return outputStatistics(e.map((v) => v / z));
}

function calibrated(seed: number) {
  const r = createRandom(seed);
  const ref = buildDriftReference(Array.from({ length: 3000 }, () => fakeInference(r, 0)), { numClasses: 10, source: 'field-baseline' });
  const cal = Array.from({ length: 3000 }, () => fakeInference(r, 0));
  ref.scoreBands = fitScoreBands(ref, cal, { windowSize: 512, windows: 200, detectors: DEFAULT_DRIFT_CONFIG.detectors, random: r });
  return { ref, r };
}

describe('streaming drift detector', () => {
  it('raises no confirmed alarm on 60,000 clean inferences (seed 11)', () => {
    const { ref, r } = calibrated(11);
    const d = new DriftDetector(ref);
    let alarms = 0;
    for (let i = 0; i < 60_000; i++) if (d.observe(fakeInference(r, 0))?.confirmed) alarms++;
    expect(alarms).toBe(0);
  });

  it('confirms a confidence drop within 1,024 samples and names the detectors', () => {
    const { ref, r } = calibrated(12);
    const d = new DriftDetector(ref);
    for (let i = 0; i < 2048; i++) expect(d.observe(fakeInference(r, 0))?.confirmed ?? false).toBe(false);
    let delay = -1;
    let detectors: string[] = [];
    for (let i = 1; i <= 4096; i++) {
      const e = d.observe(fakeInference(r, 1));
      if (e?.confirmed) {
        delay = i;
        detectors = e.breaching;
        break;
      }
    }
    expect(delay).toBeGreaterThan(0);
    expect(delay).toBeLessThanOrEqual(1024);
    expect(detectors).toContain('max-softmax-ks');
    expect(d.alarmActive).toBe(true);
  });
});
