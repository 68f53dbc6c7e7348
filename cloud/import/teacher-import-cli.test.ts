import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { run } from '../cli/teacher-import';
import { exportToOnnx } from '../export/tfjs-to-onnx';
import { loadTeacher } from '../zoo/model-io';
import { buildModel } from '../zoo/zoo';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('edgekd teacher import', () => {
  it('writes a teacher directory that loads with its card, and refuses a folded export', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgekd-import-cli-'));
    try {
      const teacher = buildModel('lenet5-bn', { inputShape: [28, 28, 1], numClasses: 10, seed: 3 });
      await writeFile(join(dir, 'unfolded.onnx'), exportToOnnx(teacher, { foldBatchNorm: false }).bytes);
      await writeFile(join(dir, 'folded.onnx'), exportToOnnx(teacher).bytes);
      const logs: string[] = [];
      const orig = console.log;
      console.log = (...a: unknown[]) => logs.push(a.join(' '));
      try {
        expect(await run(['--onnx', join(dir, 'unfolded.onnx'), '--out', join(dir, 'teacher'), '--dataset', 'fashion-mnist'])).toBe(0);
      } finally {
        console.log = orig;
      }
      expect(logs.join('\n')).toMatch(/3 BatchNorm/);
      const loaded = await loadTeacher(join(dir, 'teacher'));
      expect(loaded.card.classNames[0]).toBe('T-shirt/top');
      expect(JSON.parse(await readFile(join(dir, 'teacher', 'model-card.json'), 'utf8')).architecture).toBe('imported-onnx');
      await expect(run(['--onnx', join(dir, 'folded.onnx'), '--out', join(dir, 'x')])).rejects.toMatchObject({ code: 'EDGEKD_BATCHNORM_FOLDED' });
      await expect(run(['--onnx', join(dir, 'missing.onnx'), '--out', join(dir, 'x')])).rejects.toMatchObject({ code: 'EDGEKD_NOT_FOUND' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
