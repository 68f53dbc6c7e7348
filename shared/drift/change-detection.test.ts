import { describe, expect, it } from 'vitest';
import { PageHinkley } from './page-hinkley';
import { KOfN } from './k-of-n';
import { createRandom } from '../random/seeded-random';

describe('Page–Hinkley on standardised scores', () => {
  it('stays quiet on 100,000 stationary N(0,1) observations (seed 1)', () => {
    const rnd = createRandom(1);
    const ph = new PageHinkley({ delta: 1, lambda: 25, mean: 0, minInstances: 4 });
    let alarms = 0;
    for (let i = 0; i < 100_000; i++) if (ph.update(rnd.normal())) alarms++;
    expect(alarms).toBe(0);
  });

  it('detects a step of +3 within a few tens of observations', () => {
    const rnd = createRandom(2);
    const ph = new PageHinkley({ delta: 1, lambda: 25, mean: 0, minInstances: 4 });
    for (let i = 0; i < 1000; i++) expect(ph.update(rnd.normal())).toBe(false);
    let delay = -1;
    for (let i = 0; i < 200; i++) {
      if (ph.update(3 + rnd.normal())) {
        delay = i + 1;
        break;
      }
    }
    expect(delay).toBeGreaterThan(0);
    expect(delay).toBeLessThan(30); // drift of +2 per step over λ = 25 → about 13
  });

  it('saves and restores its state', () => {
    const a = new PageHinkley({ delta: 0.5, lambda: 10, mean: 0, minInstances: 1 });
    for (const x of [1, 2, 1.5]) a.update(x);
    const b = new PageHinkley({ delta: 0.5, lambda: 10, mean: 0, minInstances: 1 });
    b.loadState(a.saveState());
    expect(b.statistic).toBeCloseTo(a.statistic, 12);
  });
});

describe('k-of-n confirmation', () => {
  it('confirms only when k of the last n verdicts breach', () => {
    const r = new KOfN(3, 5);
    expect([true, false, true, false].map((b) => r.push(b))).toEqual([false, false, false, false]);
    expect(r.push(true)).toBe(true); // T F T F T
    expect(r.push(false)).toBe(false); // F T F T F → 2
    expect(r.push(true)).toBe(true); // T F T F T → 3
  });

  it('rejects k > n', () => {
    expect(() => new KOfN(4, 3)).toThrow(RangeError);
  });
});
