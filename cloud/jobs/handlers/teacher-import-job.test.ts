import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportToOnnx } from '../../export/tfjs-to-onnx';
import { buildModel } from '../../zoo/zoo';
import type { JobContext, JobEventData } from '../job-types';
import { run } from './teacher-import-job';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'edgekd-import-job-'));
  const teacher = buildModel('lenet5-bn', { inputShape: [28, 28, 1], numClasses: 10, seed: 2 });
  await writeFile(join(dir, 'up.onnx'), exportToOnnx(teacher, { foldBatchNorm: false }).bytes);
  teacher.dispose();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ctxWith = (events: JobEventData[]): JobContext => ({ jobId: 'j1', attempt: 1, resume: false, workDir: dir, signal: new AbortController().signal, emit: (e) => events.push(e) });

describe('teacher-import job handler', () => {
  it('imports through the library function and returns the teacher folder as its typed result', async () => {
    const events: JobEventData[] = [];
    const out = join(dir, 'teacher');
    expect(await run({ onnxPath: join(dir, 'up.onnx'), outDir: out, dataset: 'fashion-mnist' }, ctxWith(events))).toEqual({ teacherDir: out });
    expect(existsSync(join(out, 'model-card.json'))).toBe(true);
    expect(events).toEqual([expect.objectContaining({ type: 'phase', phase: 'import' })]);
  });

  it('refuses malformed params before touching any file', async () => {
    await expect(run({ onnxPath: '' }, ctxWith([]))).rejects.toMatchObject({ code: 'EDGEKD_JOB_PARAMS_INVALID' });
  });
});
