import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distillDataFree, type DataFreeDistillOptions } from './distill';
import { agreement } from './evaluator';
import type { DistillEvent } from './events';
import type { DistillConfigInput } from './config';
import { probeImages, tinyStudent, tinyTeacher } from './tiny-models.test-helper';
import { markReal } from '../data/provenance';
import { initCompute } from '../compute';

const tiny: DistillConfigInput = {
  epochs: 6,
  warmupEpochs: 1,
  kdStepsPerEpoch: 15,
  batchSize: 32,
  budget: 0.5,
  trainSetSize: 384,
  synthesis: { batchSize: 32, gSteps: 2, lrG: 5e-3, lrZ: 0.015 },
  generator: { nz: 8, ngf: 4 },
  kd: { lr: 0.1, temperature: 4 },
  augment: { pad: 1, groups: 2 },
};
const input = { range: { low: -1, high: 1 }, flipInvariant: true };

beforeAll(async () => {
  // The product's backend (wasm + the conv-gradient kernels of cloud/compute): ~10x faster than
  // the pure-JS cpu backend even on these tiny shapes.
  await initCompute({ backend: 'wasm' });
});

describe('distillDataFree (tiny models)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('raises the student\u2019s agreement with the teacher and reports every event kind', async () => {
    const teacher = tinyTeacher(1);
    const student = tinyStudent(2);
    const probe = probeImages(256, 9);
    const before = agreement(student, teacher, probe);
    const events: DistillEvent[] = [];
    const res = await distillDataFree({ teacher, student, method: 'ssdkd', seed: 3, input, config: tiny, onEvent: (e) => events.push(e) });
    const after = agreement(student, teacher, probe);
    console.log(`agreement with the teacher on probe images: ${before.toFixed(3)} → ${after.toFixed(3)}`);
    expect(after).toBeGreaterThan(before + 0.1);
    expect(res.samplesGenerated).toBe(384); // ssdkd generates 2 × the budget: 2 × 0.5 × 384 = 12 rounds of 32
    expect(res.bufferCapacity).toBe(192); // the buffer holds the budget, 0.5 × 384
    expect(res.buffer!.size).toBe(192);
    const kinds = new Set(events.map((e) => e.type));
    for (const k of ['start', 'synthesis', 'kd-step', 'epoch', 'done']) expect(kinds).toContain(k);
    const ep = events.filter((e) => e.type === 'epoch').at(-1)!;
    expect(ep.type === 'epoch' && ep.classHistogram.reduce((a, b) => a + b, 0)).toBe(res.buffer!.size);
    // The end of synthesis is measured: the last epoch's rounds, targets and teacher labels counted.
    const sy = res.synthesis!;
    expect(sy.samples).toBe(res.history.at(-1)!.synthesis!.samples);
    expect(sy.targetHistogram.reduce((a, b) => a + b, 0)).toBe(sy.samples);
    expect(sy.labelHistogram.reduce((a, b) => a + b, 0)).toBe(sy.samples);
    expect(sy.teacherTargetCE).toBeGreaterThan(0);
    expect(Number.isFinite(sy.teacherTargetCE)).toBe(true);
    expect(res.studentSteps).toBe(5 * 15);
    probe.dispose();
  }, 60_000);

  it('resumes after a kill and finishes with the same schedule', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-distill-'));
    dirs.push(dir);
    const base = (student: tf.LayersModel): DataFreeDistillOptions => ({ teacher: tinyTeacher(1), student, method: 'ssdkd', seed: 5, input, config: { ...tiny, epochs: 4 }, checkpointDir: dir, resume: true });
    const first = await distillDataFree({ ...base(tinyStudent(2)), stopAfterEpochs: 2 });
    expect(first.finished).toBe(false);
    expect(first.epochsCompleted).toBe(2);
    // A new process would build fresh models: the checkpoint restores the student weights.
    const fresh = tinyStudent(77);
    const events: DistillEvent[] = [];
    const second = await distillDataFree({ ...base(fresh), onEvent: (e) => events.push(e) });
    expect(second.finished).toBe(true);
    expect(second.epochsCompleted).toBe(4);
    const start = events.find((e) => e.type === 'start');
    expect(start?.type === 'start' && start.resumedFromEpoch).toBe(2);
    expect(events.filter((e) => e.type === 'epoch').map((e) => (e.type === 'epoch' ? e.epoch : -1))).toEqual([2, 3]);
    // The uninterrupted run draws the same random stream and reaches the same student.
    const straightStudent = tinyStudent(2);
    const straight = await distillDataFree({ ...base(straightStudent), checkpointDir: undefined, resume: false });
    expect(straight.samplesGenerated).toBe(second.samplesGenerated);
    const a = fresh.getWeights().flatMap((t) => Array.from(t.dataSync()));
    const b = straightStudent.getWeights().flatMap((t) => Array.from(t.dataSync()));
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i]!, 4));
  }, 60_000);

  it('frees every tensor it creates (long runs would otherwise grow without bound)', async () => {
    const teacher = tinyTeacher(1);
    const student = tinyStudent(2);
    for (const method of ['ssdkd', 'ssdkd-priority-gen', 'deepinv', 'noise'] as const) {
      const before = tf.memory().numTensors;
      // The label-conditioned latent and priority-weighted generator objective take the same paths.
      await distillDataFree({ teacher, student, method, seed: 1, input, config: { ...tiny, epochs: 2, kdStepsPerEpoch: 2, budget: 0.2, pixel: { batchSize: 16, steps: 2 }, generator: { labelEmbedding: method === 'ssdkd-priority-gen' ? 3 : 0 } } });
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('refuses real data handed to it and a teacher without BatchNorm', async () => {
    const teacher = tinyTeacher(1);
    const student = tinyStudent(2);
    const real = markReal({ provenance: 'real', images: new Float32Array(64), labels: new Int32Array(1) });
    await expect(distillDataFree({ teacher, student, method: 'ssdkd', seed: 1, input, config: tiny, ...({ trainSplit: real } as object) } as DataFreeDistillOptions)).rejects.toMatchObject({ code: 'EDGEKD_REAL_DATA_FORBIDDEN' });
    await expect(distillDataFree({ teacher: tinyTeacher(1, { batchNorm: false }), student, method: 'ssdkd', seed: 1, input, config: tiny })).rejects.toMatchObject({ code: 'EDGEKD_TEACHER_NO_BATCHNORM' });
    await expect(distillDataFree({ teacher, student: tinyStudent(2, { classes: 4 }), method: 'ssdkd', seed: 1, input, config: tiny })).rejects.toMatchObject({ code: 'EDGEKD_SHAPE_MISMATCH' });
    await expect(distillDataFree({ teacher, student, method: 'ssdkd', seed: 1, input, config: { ...tiny, budget: 1.5 } })).rejects.toMatchObject({ code: 'EDGEKD_BUDGET_OUT_OF_RANGE' });
  });
});
