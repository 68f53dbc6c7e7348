import { describe, expect, it } from 'vitest';
import { SumTree } from './sum-tree';
import { createRandom } from '../../shared/random/seeded-random';

describe('SumTree', () => {
  it('keeps the total equal to the sum of leaf masses after updates', () => {
    const t = new SumTree(5);
    [1, 2, 3, 4, 5].forEach((m, i) => t.set(i, m));
    expect(t.total).toBeCloseTo(15);
    t.set(2, 0.5);
    expect(t.total).toBeCloseTo(12.5);
  });

  it('maps a cumulative value to the leaf whose interval holds it', () => {
    const t = new SumTree(4);
    [1, 0, 2, 1].forEach((m, i) => t.set(i, m));
    expect(t.find(0.5)).toBe(0);
    expect(t.find(1.0)).toBe(2); // leaf 1 has no mass
    expect(t.find(2.9)).toBe(2);
    expect(t.find(3.5)).toBe(3);
    expect(t.find(99)).toBe(3); // clamped into [0, total)
  });

  it('samples leaves in proportion to their mass', () => {
    const masses = [1, 2, 3, 4, 0, 10];
    const t = new SumTree(masses.length);
    masses.forEach((m, i) => t.set(i, m));
    const rng = createRandom(7);
    const hits = new Array(masses.length).fill(0);
    const draws = 40_000;
    for (let k = 0; k < draws; k++) hits[t.find(rng.next() * t.total)]++;
    const total = masses.reduce((a, b) => a + b, 0);
    masses.forEach((m, i) => expect(hits[i] / draws).toBeCloseTo(m / total, 2));
    expect(hits[4]).toBe(0);
  });

  it('rejects negative or non-finite masses', () => {
    const t = new SumTree(2);
    expect(() => t.set(0, -1)).toThrow(/mass/);
    expect(() => t.set(0, Number.NaN)).toThrow(/mass/);
  });
});
