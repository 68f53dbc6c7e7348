import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as keysGenerate } from '../cli/keys-generate';
import { run as exportCmd } from '../cli/export';
import { run as verifyCmd } from '../cli/package-verify';
import { buildModel } from '../zoo/zoo';
import { randomizeBatchNorm } from './testing/models';
import { writeStudentDir } from './testing/student-dir';

let dir: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'edgekd-export-cli-'));
  const student = buildModel('lenet5-half', { inputShape: [28, 28, 1], numClasses: 10, seed: 3 });
  randomizeBatchNorm(student, 1);
  await writeStudentDir(join(dir, 'student'), student, { samples: 40 });
  const teacher = buildModel('lenet5-bn', { inputShape: [28, 28, 1], numClasses: 10, seed: 4 });
  randomizeBatchNorm(teacher, 2);
  await writeStudentDir(join(dir, 'teacher'), teacher, { samples: 2 });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('edgekd keys generate / export / package verify', () => {
  it('exports a signed int8 package that verifies, and says exactly what failed after tampering', async () => {
    const keys = join(dir, 'keys');
    expect(await keysGenerate(['--out', keys])).toBe(0);
    const pkg = join(dir, 'pkg');
    const logs: string[] = [];
    const orig = console.log;
    console.log = (...a: unknown[]) => logs.push(a.join(' '));
    try {
      expect(await exportCmd(['--student', join(dir, 'student'), '--out', pkg, '--calibration', 'entropy', '--key', join(keys, 'signing-key.json'), '--teacher', join(dir, 'teacher'), '--skip-eval', '--float-layers', 'none', '--cpu', 'x86-avx2', '--int8-check', 'off'])).toBe(0);
      expect(await verifyCmd([pkg, '--trusted-keys', join(keys, 'trusted-keys.json')])).toBe(0);
    } finally {
      console.log = orig;
    }
    // lenet5-half's 3 convs fused; the one float Conv is the teacher's probe branch (drift statistics), float by design.
    expect(logs.join('\n')).toMatch(/3 QLinearConv, 1 float Conv/);
    const manifest = JSON.parse(await readFile(join(pkg, 'manifest.json'), 'utf8'));
    expect(manifest.quantization).toMatchObject({ precision: 'int8', target: 'cpu', calibration: { method: 'entropy', source: 'synthetic', samples: 40 }, weights: { bits: 7, chosenFor: 'x86-avx2' }, floatLayers: { rule: 'none', nodes: [] } });
    expect(manifest.lineage.distillationRunId).toBe('test-run');
    expect(manifest.lineage.teacherSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.driftReference.featureStatistics[0].meanOutput).toBe('teacher_conv1_conv_mean');
    expect(manifest.outputs.map((o: { name: string }) => o.name)).toEqual(['probabilities', 'teacher_conv1_conv_mean', 'teacher_conv1_conv_meansq']);
    // The shipped model has the probe outputs.
    const s = await ort.InferenceSession.create(await readFile(join(pkg, 'model.onnx')));
    const y = await s.run({ input: new ort.Tensor('float32', new Float32Array(784), [1, 28, 28, 1]) });
    expect(y.teacher_conv1_conv_mean!.dims).toEqual([1, 6]);

    // Tamper with one byte of the model: hash mismatch.
    const model = await readFile(join(pkg, 'model.onnx'));
    model[model.length - 5] ^= 0xff;
    await writeFile(join(pkg, 'model.onnx'), model);
    await expect(verifyCmd([pkg, '--trusted-keys', join(keys, 'trusted-keys.json')])).rejects.toMatchObject({ code: 'EDGEKD_HASH_MISMATCH' });
    // Rotate the key: the old list entry gets an end date; the new list still trusts the old package (signed before).
    expect(await keysGenerate(['--out', keys])).toBe(0);
    const list = JSON.parse(await readFile(join(keys, 'trusted-keys.json'), 'utf8'));
    expect(list.keys).toHaveLength(2);
    expect(list.keys[0].validUntil).toBeDefined();
  });

  it('writes the single-file form when --out ends in .ekpkg, and both targets with --target both', async () => {
    const keys = join(dir, 'keys3');
    await keysGenerate(['--out', keys]);
    const out = join(dir, 'model.ekpkg');
    const orig = console.log;
    console.log = () => {};
    try {
      expect(await exportCmd(['--student', join(dir, 'student'), '--out', out, '--target', 'both', '--calibration', 'minmax', '--key', join(keys, 'signing-key.json'), '--skip-eval'])).toBe(0);
      expect(await verifyCmd([out, '--trusted-keys', join(keys, 'trusted-keys.json')])).toBe(0);
      expect(await verifyCmd([join(dir, 'model-tensorrt.ekpkg'), '--trusted-keys', join(keys, 'trusted-keys.json')])).toBe(0);
    } finally {
      console.log = orig;
    }
  });

  it('refuses an unknown --int8-check mode with a typed error', async () => {
    const keys = join(dir, 'keys3');
    await keysGenerate(['--out', keys]);
    await expect(exportCmd(['--student', join(dir, 'student'), '--out', join(dir, 'y'), '--key', join(keys, 'signing-key.json'), '--int8-check', 'maybe', '--skip-eval'])).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT', message: expect.stringMatching(/--int8-check must be one of measure, rules, off/) });
  });

  it('refuses to export int8 without a replay buffer', async () => {
    const keys = join(dir, 'keys2');
    await keysGenerate(['--out', keys]);
    await expect(exportCmd(['--student', join(dir, 'student'), '--out', join(dir, 'x'), '--key', join(keys, 'signing-key.json'), '--calibration-samples', join(dir, 'nowhere'), '--skip-eval'])).rejects.toMatchObject({ code: 'EDGEKD_NOT_FOUND' });
  });
});
