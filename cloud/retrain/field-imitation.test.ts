import { describe, expect, it } from 'vitest';
import { createRandom } from '../../shared/random/seeded-random';
import { fieldImitationInputs } from './field-imitation';

const G = { height: 4, width: 4, channels: 1, range: [-1, 1] as const };
const batch = (n: number) => Float32Array.from({ length: n * 16 }, (_, i) => ((i * 37) % 17) / 8.5 - 1);
const changed = (a: Float32Array, b: Float32Array, n: number) => Array.from({ length: n }, (_, i) => a.subarray(i * 16, (i + 1) * 16).some((v, j) => v !== b[i * 16 + j])).filter(Boolean).length;

describe('field imitation KD batches', () => {
  it('degrades about the requested fraction of the batch for the student, and lets the teacher label the clean samples', () => {
    const x = batch(400);
    const f = fieldImitationInputs({ degradations: [{ kind: 'contrast', amount: 0.3 }], fraction: 0.5, teacherOn: 'clean', geometry: G });
    const { student, teacher } = f(x, [400, 4, 4, 1], createRandom(1));
    expect(teacher).toBe(x);
    const n = changed(student, x, 400);
    expect(n).toBeGreaterThan(160);
    expect(n).toBeLessThan(240);
    expect(Array.from(x)).toEqual(Array.from(batch(400)));
  });

  it('gives the teacher the degraded samples with teacherOn "degraded", and leaves a batch clean at fraction 0', () => {
    const x = batch(50);
    const same = fieldImitationInputs({ degradations: [{ kind: 'brightness', amount: 0.2 }], fraction: 1, teacherOn: 'degraded', geometry: G })(x, [50, 4, 4, 1], createRandom(2));
    expect(same.teacher).toBe(same.student);
    expect(changed(same.student, x, 50)).toBe(50);
    const none = fieldImitationInputs({ degradations: [{ kind: 'brightness', amount: 0.2 }], fraction: 0, teacherOn: 'clean', geometry: G })(x, [50, 4, 4, 1], createRandom(2));
    expect(changed(none.student, x, 50)).toBe(0);
  });

  it('refuses a bad fraction, an empty family, an out-of-range amount or a batch of another shape with typed errors', () => {
    expect(() => fieldImitationInputs({ degradations: [{ kind: 'noise', amount: 0.1 }], fraction: 1.5, teacherOn: 'clean', geometry: G })).toThrow(expect.objectContaining({ code: 'EDGEKD_CONFIG_INVALID' }));
    expect(() => fieldImitationInputs({ degradations: [], fraction: 0.5, teacherOn: 'clean', geometry: G })).toThrow(expect.objectContaining({ code: 'EDGEKD_CONFIG_INVALID' }));
    expect(() => fieldImitationInputs({ degradations: [{ kind: 'blur', amount: 40 }], fraction: 0.5, teacherOn: 'clean', geometry: G })).toThrow(expect.objectContaining({ code: 'EDGEKD_CONFIG_INVALID' }));
    const f = fieldImitationInputs({ degradations: [{ kind: 'noise', amount: 0.1 }], fraction: 0.5, teacherOn: 'clean', geometry: G });
    expect(() => f(batch(2), [2, 8, 2, 1], createRandom(1))).toThrow(expect.objectContaining({ code: 'EDGEKD_SHAPE_MISMATCH' }));
  });
});
