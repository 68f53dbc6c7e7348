import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Adam, SgdMomentum } from './optimizers';

/** The host-side updates against the tensor-op updates they replace, step for step. */

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function seeded(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32 - 0.5);
}

function run(make: () => SgdMomentum | Adam, steps: number): { values: number[][]; slots: number[][] } {
  const vars = [tf.variable(tf.tensor(seeded(24, 1), [2, 3, 4])), tf.variable(tf.tensor(seeded(5, 2), [5]))];
  const opt = make();
  for (let k = 0; k < steps; k++) {
    const grads = vars.map((v, i) => tf.tensor(seeded(v.size, 10 * k + i + 3), v.shape));
    opt.apply(vars, grads);
    grads.forEach((g) => g.dispose());
  }
  const state = opt.state();
  const out = { values: vars.map((v) => Array.from(v.dataSync())), slots: state.slots.map((t) => Array.from(t.dataSync())) };
  state.slots.forEach((t) => t.dispose());
  vars.forEach((v) => v.dispose());
  opt.dispose();
  return out;
}

describe('optimiser update paths', () => {
  it('SGD with momentum and weight decay: host and tensor updates give the same float32 values', () => {
    const host = run(() => new SgdMomentum(0.1, 0.9, 5e-4, 'host'), 4);
    const tensor = run(() => new SgdMomentum(0.1, 0.9, 5e-4, 'tensor'), 4);
    expect(host).toEqual(tensor);
  });

  it('SGD without weight decay: the same', () => {
    expect(run(() => new SgdMomentum(0.05, 0.8, 0, 'host'), 3)).toEqual(run(() => new SgdMomentum(0.05, 0.8, 0, 'tensor'), 3));
  });

  it('Adam: host and tensor updates agree to float32 rounding', () => {
    const host = run(() => new Adam(1e-3, 0.5, 0.999, 1e-8, 'host'), 5);
    const tensor = run(() => new Adam(1e-3, 0.5, 0.999, 1e-8, 'tensor'), 5);
    host.values.forEach((v, i) => v.forEach((x, j) => expect(Math.abs(x - tensor.values[i]![j]!)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(x)))));
    host.slots.forEach((v, i) => v.forEach((x, j) => expect(Math.abs(x - tensor.slots[i]![j]!)).toBeLessThanOrEqual(1e-6 * Math.max(1e-6, Math.abs(x)))));
  });

  it('a host optimiser restored from its state continues exactly as one never stopped', () => {
    const vars = [tf.variable(tf.tensor(seeded(6, 4), [6]))];
    const g = tf.tensor(seeded(6, 5), [6]);
    const a = new Adam(1e-2, 0.5, 0.999, 1e-8, 'host');
    a.apply(vars, [g]);
    const saved = a.state();
    const b = new Adam(1e-2, 0.5, 0.999, 1e-8, 'host');
    b.restore(saved);
    const v2 = [tf.variable(vars[0]!.clone())];
    a.apply(vars, [g]);
    b.apply(v2, [g]);
    expect(Array.from(v2[0]!.dataSync())).toEqual(Array.from(vars[0]!.dataSync()));
    expect(b.step).toBe(2);
  });
});
