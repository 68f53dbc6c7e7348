import { describe, expect, it } from 'vitest';
import { iterateBatches, batchCount, augmentInPlace } from './batches';
import { makeSplit } from './labelled-split';
import { isRealData, assertNotReal } from './provenance';
import { createRandom } from '../../shared/random/seeded-random';

function toySplit(n: number) {
  const images = new Float32Array(n * 4);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    images.fill(i, i * 4, i * 4 + 4);
    labels[i] = i % 3;
  }
  return makeSplit(images, labels, [2, 2, 1]);
}

const order = (split: ReturnType<typeof toySplit>, seed: number) =>
  [...iterateBatches(split, { batchSize: 7, rng: createRandom(seed) })].flatMap((b) => Array.from({ length: b.size }, (_, i) => b.xs[i * 4]!));

describe('shuffled batches', () => {
  const split = toySplit(50);

  it('visit every image once per epoch, images and labels kept together', () => {
    const batches = [...iterateBatches(split, { batchSize: 7, rng: createRandom(1) })];
    expect(batches.length).toBe(batchCount(50, 7));
    const seen = batches.flatMap((b) => Array.from({ length: b.size }, (_, i) => b.xs[i * 4]!));
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    for (const b of batches) for (let i = 0; i < b.size; i++) expect(b.labels[i]).toBe(b.xs[i * 4]! % 3);
  });

  it('same seed gives the same order, another seed another order', () => {
    expect(order(split, 42)).toEqual(order(split, 42));
    expect(order(split, 42)).not.toEqual(order(split, 43));
    expect(order(split, 42)).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('drop the partial batch when asked and resume at a batch index', () => {
    expect([...iterateBatches(split, { batchSize: 7, dropRemainder: true })].length).toBe(7);
    const full = [...iterateBatches(split, { batchSize: 7, rng: createRandom(5) })];
    const tail = [...iterateBatches(split, { batchSize: 7, rng: createRandom(5), startBatch: 3 })];
    expect(tail.map((b) => Array.from(b.xs))).toEqual(full.slice(3).map((b) => Array.from(b.xs)));
  });

  it('are tagged real, and the data-free guard refuses them', () => {
    const [b] = [...iterateBatches(split, { batchSize: 4 })];
    expect(b!.provenance).toBe('real');
    expect(isRealData(b)).toBe(true);
    expect(isRealData(b!.xs)).toBe(true);
    expect(() => assertNotReal(b, 'distillation')).toThrow(expect.objectContaining({ code: 'EDGEKD_REAL_DATA_FORBIDDEN' }));
    expect(() => assertNotReal({ provenance: 'synthetic', xs: new Float32Array(4) }, 'distillation')).not.toThrow();
  });
});

describe('augmentation', () => {
  it('flips and shifts with the fill value, reproducibly', () => {
    // One 1x3 row image [1, 2, 3]: a flip gives [3, 2, 1]; a shift moves it with fill -1 (a
    // vertical shift of a one-row image leaves only fill).
    const run = (seed: number) => {
      const xs = new Float32Array([1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]);
      augmentInPlace(xs, 4, [1, 3, 1], { flip: true, shift: 1, fill: -1 }, createRandom(seed));
      return Array.from(xs);
    };
    expect(run(9)).toEqual(run(9));
    const allowed = new Set(['1,2,3', '3,2,1', '-1,1,2', '2,3,-1', '-1,3,2', '2,1,-1', '-1,-1,-1']);
    const out = run(9);
    for (let i = 0; i < 4; i++) expect(allowed.has(out.slice(i * 3, i * 3 + 3).join(','))).toBe(true);
  });

  it('pads a 3-channel image with its own fill per channel (a padded random crop) and flips whole pixels', () => {
    // One 1x2 RGB image: pixel A = (1, 2, 3), pixel B = (4, 5, 6); fill = raw 0 per channel.
    const fill = [-10, -20, -30];
    const seen = new Set<string>();
    for (let seed = 1; seed <= 60; seed++) {
      const xs = Float32Array.from([1, 2, 3, 4, 5, 6]);
      augmentInPlace(xs, 1, [1, 2, 3], { flip: true, shift: 1, fill }, createRandom(seed));
      const pixels = [Array.from(xs.subarray(0, 3)).join(','), Array.from(xs.subarray(3, 6)).join(',')];
      for (const p of pixels) expect(['1,2,3', '4,5,6', '-10,-20,-30']).toContain(p);
      seen.add(pixels.join(' | '));
    }
    // Flipped, shifted in from either side, and out entirely (dy = ±1 on a one-row image).
    expect(seen).toContain('4,5,6 | 1,2,3');
    expect(seen).toContain('-10,-20,-30 | 1,2,3');
    expect(seen).toContain('-10,-20,-30 | -10,-20,-30');
  });
});
