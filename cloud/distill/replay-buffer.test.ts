import { describe, expect, it } from 'vitest';
import { importanceWeights, ReplayBuffer, type InsertOptions } from './replay-buffer';
import { BatchSynthesizer, SyntheticBatch as SyntheticBatchClass, type SyntheticBatch } from './synthetic-batch';
import { createRandom } from '../../shared/random/seeded-random';
import { markReal } from '../data/provenance';

const C = 4;
const opts = { capacity: 8, sampleShape: [2, 2, 1] as const, numClasses: C, prioritized: true, alpha: 1, epsilon: 1e-6 };
const all: InsertOptions = { fraction: 1, ordered: true, balanced: true, evict: true };

/** Test-only synthesizer that emits scripted pixels (so tests can tell samples apart). */
class ScriptedSynthesizer extends BatchSynthesizer {
  emit(images: Float32Array, shape: readonly [number, number, number, number]): SyntheticBatch {
    return this.mintBatch(images, shape);
  }
}
const scripted = new ScriptedSynthesizer();

/** A batch whose sample i has value i+offset in every pixel and teacher class cls[i]. */
function batch(cls: number[], offset = 0): { b: SyntheticBatch; probs: Float32Array } {
  const images = new Float32Array(cls.length * 4);
  cls.forEach((_, i) => images.fill(i + offset, i * 4, i * 4 + 4));
  const probs = new Float32Array(cls.length * C);
  cls.forEach((c, i) => {
    probs.fill(0.1 / (C - 1), i * C, (i + 1) * C);
    probs[i * C + c] = 0.9;
  });
  return { b: scripted.emit(images, [cls.length, 2, 2, 1]), probs };
}

describe('ReplayBuffer', () => {
  it('never grows past its capacity', () => {
    const buf = new ReplayBuffer(opts);
    for (let r = 0; r < 5; r++) {
      const { b, probs } = batch([0, 1, 2, 3, 0], r * 10);
      buf.insert(b, probs, new Float32Array(5).fill(1), all);
    }
    expect(buf.size).toBe(8);
    expect(buf.classHistogram().reduce((a, b) => a + b, 0)).toBe(8);
  });

  it('inserts only the top fraction by φ when ordered', () => {
    const buf = new ReplayBuffer(opts);
    const { b, probs } = batch([0, 1, 2, 3]);
    const r = buf.insert(b, probs, Float32Array.from([0.1, 3, 0.2, 2]), { ...all, fraction: 0.5 });
    expect(r.inserted).toBe(2);
    const got = Array.from(buf.gather([0, 1])).filter((_, k) => k % 4 === 0);
    expect(got).toEqual([1, 3]); // the samples with φ 3 and 2, best first
  });

  it('evicts from the most populated class, lowest priority first, keeping the histogram flat', () => {
    const buf = new ReplayBuffer(opts);
    const { b, probs } = batch([0, 0, 0, 0, 0, 1, 2, 3]);
    buf.insert(b, probs, new Float32Array(8).fill(1), all);
    buf.updatePriorities([0, 1, 2, 3, 4], [5, 4, 0.1, 3, 2]);
    const next = batch([1, 2], 100);
    const r = buf.insert(next.b, next.probs, new Float32Array(2).fill(1), all);
    expect(r.evicted).toBe(2);
    expect(buf.classHistogram()).toEqual([3, 2, 2, 1]);
    // slot 2 (priority 0.1) went first, then slot 4 (priority 2)
    const survivors = Array.from(buf.gather([0, 1, 2, 3, 4])).filter((_, k) => k % 4 === 0);
    expect(survivors).toEqual([0, 1, 100, 3, 101]);
  });

  it('drops new samples when full and eviction is off', () => {
    const buf = new ReplayBuffer(opts);
    const first = batch([0, 1, 2, 3, 0, 1, 2, 3]);
    buf.insert(first.b, first.probs, new Float32Array(8).fill(1), all);
    const next = batch([0, 1], 50);
    const r = buf.insert(next.b, next.probs, new Float32Array(2).fill(1), { ...all, evict: false });
    expect(r).toEqual({ inserted: 0, evicted: 0, dropped: 2 });
  });

  it('samples in proportion to priority and returns importance weights (K·P)^-β / max', () => {
    const buf = new ReplayBuffer({ ...opts, capacity: 4 });
    const { b, probs } = batch([0, 1, 2, 3]);
    buf.insert(b, probs, new Float32Array(4).fill(1), all);
    buf.updatePriorities([0, 1, 2, 3], [1, 2, 3, 4]);
    const rng = createRandom(11);
    const hits = [0, 0, 0, 0];
    for (let k = 0; k < 500; k++) buf.sample(40, 1, () => rng.next()).indices.forEach((i) => hits[i]!++);
    hits.forEach((h, i) => expect(h / 20_000).toBeCloseTo((i + 1) / 10, 1));
    const { indices, weights } = buf.sample(4, 0.5, () => rng.next());
    const P = (i: number) => (i + 1) / 10;
    const raw = Array.from(indices, (i) => Math.pow(4 * P(i), -0.5));
    const m = Math.max(...raw);
    Array.from(weights).forEach((w, k) => expect(w).toBeCloseTo(raw[k]! / m, 5));
  });

  it('gives new samples the running maximum priority', () => {
    const buf = new ReplayBuffer({ ...opts, capacity: 4 });
    const first = batch([0, 1]);
    buf.insert(first.b, first.probs, new Float32Array(2).fill(1), all);
    buf.updatePriorities([0, 1], [7, 0.5]);
    const next = batch([2], 9);
    buf.insert(next.b, next.probs, new Float32Array(1).fill(1), all);
    expect(buf.priorityStats().max).toBe(7);
    expect(buf.priorityStats().min).toBe(0.5);
  });

  it('samples uniformly with unit weights when not prioritized', () => {
    const buf = new ReplayBuffer({ ...opts, prioritized: false });
    const { b, probs } = batch([0, 1]);
    buf.insert(b, probs, new Float32Array(2).fill(1), all);
    buf.updatePriorities([0, 1], [100, 0]);
    const rng = createRandom(1);
    const s = buf.sample(2000, 1, () => rng.next());
    const ones = s.indices.reduce((a, i) => a + i, 0);
    expect(ones / 2000).toBeCloseTo(0.5, 1);
    expect(s.weights.every((w) => w === 1)).toBe(true);
  });

  it('round-trips through serialize/deserialize', () => {
    const buf = new ReplayBuffer(opts);
    const { b, probs } = batch([0, 1, 2, 3, 1]);
    buf.insert(b, probs, new Float32Array(5).fill(1), all);
    buf.updatePriorities([0, 1, 2], [0.3, 0.2, 0.9]);
    const { header, body } = buf.serialize();
    const back = ReplayBuffer.deserialize(JSON.parse(JSON.stringify(header)), body);
    expect(back.size).toBe(5);
    expect(back.classHistogram()).toEqual(buf.classHistogram());
    expect(Array.from(back.gather([0, 1, 2, 3, 4]))).toEqual(Array.from(buf.gather([0, 1, 2, 3, 4])));
    expect(back.priorityStats()).toEqual(buf.priorityStats());
  });
});

describe('importance weights for the KD step', () => {
  const w = Float32Array.from([1, 0.5, 0.25, 0.25]);
  it('keeps PER max-normalised weights under max, so their mean (the step-size multiplier) falls below 1', () => {
    const out = importanceWeights(w, 'max')!;
    expect(Math.max(...out)).toBe(1);
    expect(out.reduce((a, v) => a + v, 0) / out.length).toBeCloseTo(0.5);
  });
  it('rescales to mean 1 under mean, keeping the ratios between samples', () => {
    const out = importanceWeights(w, 'mean')!;
    expect(out.reduce((a, v) => a + v, 0) / out.length).toBeCloseTo(1);
    expect(out[0]! / out[2]!).toBeCloseTo(4);
  });
  it('applies no weights under off', () => {
    expect(importanceWeights(w, 'off')).toBeUndefined();
  });
});

describe('data-free guard', () => {
  it('refuses a real dataset batch at the buffer', () => {
    const buf = new ReplayBuffer(opts);
    const real = markReal({ provenance: 'real', images: new Float32Array(16), shape: [4, 2, 2, 1] });
    expect(() => buf.insert(real as never, new Float32Array(16), new Float32Array(4), all)).toThrow(expect.objectContaining({ code: 'EDGEKD_REAL_DATA_FORBIDDEN' }));
  });

  it('refuses a plain object that only claims to be synthetic', () => {
    const buf = new ReplayBuffer(opts);
    const fake = { provenance: 'synthetic', images: new Float32Array(16), shape: [4, 2, 2, 1], size: 4 };
    expect(() => buf.insert(fake as never, new Float32Array(16), new Float32Array(4), all)).toThrow(expect.objectContaining({ code: 'EDGEKD_REAL_DATA_FORBIDDEN' }));
  });

  it('has no public constructor: only a synthesizer can make a synthetic batch', () => {
    const Ctor = SyntheticBatchClass as unknown as new (...a: unknown[]) => unknown;
    expect(() => new Ctor(new Float32Array(16), [4, 2, 2, 1])).toThrow(expect.objectContaining({ code: 'EDGEKD_REAL_DATA_FORBIDDEN' }));
    expect(() => new Ctor(Symbol('edgekd.synthetic-batch.mint'), new Float32Array(16), [4, 2, 2, 1])).toThrow(expect.objectContaining({ code: 'EDGEKD_REAL_DATA_FORBIDDEN' }));
    expect(SyntheticBatchClass.isSynthetic(scripted.emit(new Float32Array(16), [4, 2, 2, 1]))).toBe(true);
  });

  it('refuses to wrap tagged real pixels as a synthetic batch', () => {
    const pixels = markReal(new Float32Array(16));
    expect(() => scripted.emit(pixels, [4, 2, 2, 1])).toThrow(expect.objectContaining({ code: 'EDGEKD_REAL_DATA_FORBIDDEN' }));
  });

  it('refuses a saved buffer whose header is not synthetic', () => {
    const buf = new ReplayBuffer(opts);
    const { header, body } = buf.serialize();
    expect(() => ReplayBuffer.deserialize({ ...header, provenance: 'real' as never }, body)).toThrow(expect.objectContaining({ code: 'EDGEKD_REAL_DATA_FORBIDDEN' }));
  });

  it('exports a class-balanced calibration set made only of buffer (synthetic) samples', () => {
    const buf = new ReplayBuffer(opts);
    const { b, probs } = batch([0, 0, 0, 1, 2, 3, 3], 1);
    buf.insert(b, probs, new Float32Array(7).fill(1), all);
    const cal = buf.exportCalibrationSet(4);
    expect(cal.provenance).toBe('synthetic');
    expect(cal.shape).toEqual([4, 2, 2, 1]);
    expect(Array.from(cal.labels).sort()).toEqual([0, 1, 2, 3]);
    const values = new Set(Array.from(cal.data));
    for (const v of values) expect(Array.from(b.images)).toContain(v);
  });
});
