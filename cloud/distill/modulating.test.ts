import { describe, expect, it } from 'vitest';
import { balancedTargets, defaultModulation, modulate } from './modulating';
import { createRandom } from '../../shared/random/seeded-random';

const C = 3;
function probs(rows: number[][]): Float32Array {
  return Float32Array.from(rows.flat());
}

describe('modulating function φ', () => {
  it('has mean 1 over the batch', () => {
    const p = probs([[0.9, 0.05, 0.05], [0.4, 0.3, 0.3], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]]);
    const phi = modulate(p, C, [0, 0, 0], defaultModulation);
    expect(phi.reduce((a, b) => a + b, 0) / phi.length).toBeCloseTo(1, 5);
  });

  it('weights samples of an over-represented class lower (diversity term)', () => {
    const p = probs([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]]);
    const phi = modulate(p, C, [100, 0, 0], { ...defaultModulation, difficulty: false });
    expect(phi[0]).toBeLessThan(phi[1]!);
  });

  it('reads the difficulty off the target class: a confidently wrong sample is the hardest', () => {
    // Both samples: teacher 98% sure of class 0. Sample 0's target is 0 (right), sample 1's is 2 (wrong).
    const p = probs([[0.98, 0.01, 0.01], [0.98, 0.01, 0.01]]);
    const cfg = { ...defaultModulation, diversity: false };
    const byTarget = modulate(p, C, [0, 0, 0], cfg, [0, 2]);
    expect(byTarget[1]).toBeGreaterThan(byTarget[0]! * 2);
    // Without targets (top class) both look equally easy.
    const byTop = modulate(p, C, [0, 0, 0], cfg);
    expect(byTop[0]).toBeCloseTo(byTop[1]!, 6);
  });

  it('weights samples the teacher is unsure of higher (difficulty term)', () => {
    const p = probs([[0.98, 0.01, 0.01], [0.5, 0.25, 0.25]]);
    const phi = modulate(p, C, [0, 0, 0], { ...defaultModulation, diversity: false, gamma: 2 });
    expect(phi[1]).toBeGreaterThan(phi[0]!);
    // focal form: ((1-0.5+0.1)/(1-0.98+0.1))^2 = 25, clipped at maxWeight before renormalising
    expect(phi[1]! / phi[0]!).toBeGreaterThan(4);
    // the default γ = 0.5 keeps the same order with a gentler ratio: √5 ≈ 2.24
    const soft = modulate(p, C, [0, 0, 0], { ...defaultModulation, diversity: false });
    expect(soft[1]! / soft[0]!).toBeCloseTo(Math.sqrt(5), 2);
  });

  it('is all ones with both terms off', () => {
    const p = probs([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]]);
    expect(Array.from(modulate(p, C, [5, 0, 0], { ...defaultModulation, diversity: false, difficulty: false }))).toEqual([1, 1]);
  });

  it('draws synthesis targets towards the classes the buffer lacks', () => {
    const rng = createRandom(3);
    const y = balancedTargets([1000, 0, 0], C, 3000, () => rng.next());
    const counts = [0, 0, 0];
    y.forEach((c) => counts[c]!++);
    expect(counts[0]).toBeLessThan(20);
    expect(Math.abs(counts[1]! - counts[2]!)).toBeLessThan(250);
  });
});
