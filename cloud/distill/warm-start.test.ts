import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCompute } from '../compute';
import { loadBuffer, saveBuffer } from './buffer-file';
import type { DistillConfigInput } from './config';
import { distillDataFree } from './distill';
import type { DistillEvent } from './events';
import { wrapTeacher } from './teacher';
import { tinyStudent, tinyTeacher } from './tiny-models.test-helper';

const tiny: DistillConfigInput = { epochs: 2, warmupEpochs: 0, kdStepsPerEpoch: 3, batchSize: 16, budget: 0.5, trainSetSize: 64, synthesis: { batchSize: 16, gSteps: 1 }, generator: { nz: 8, ngf: 4 } };
const input = { range: { low: -1, high: 1 }, flipInvariant: false };
const dir = mkdtempSync(join(tmpdir(), 'edgekd-warm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeAll(async () => {
  await initCompute({ backend: 'wasm' });
});

describe('warm start', () => {
  it('seeds a new run with the buffer a previous run saved', async () => {
    const first = await distillDataFree({ teacher: tinyTeacher(1), student: tinyStudent(2), method: 'ssdkd', seed: 1, input, config: tiny });
    saveBuffer(dir, first.buffer!);
    const warm = loadBuffer(dir);
    expect(warm.size).toBe(first.buffer!.size);
    const events: DistillEvent[] = [];
    const second = await distillDataFree({ teacher: tinyTeacher(1), student: tinyStudent(2), method: 'ssdkd', seed: 2, input, config: tiny, warmStart: { buffer: warm }, onEvent: (e) => events.push(e) });
    // The first synthesis round of the retrain finds the buffer already full of the old samples,
    // so new samples must evict (a cold start never evicts in its first round).
    const firstSynth = events.find((e) => e.type === 'synthesis');
    expect(first.buffer!.size).toBe(first.bufferCapacity);
    expect(firstSynth?.type === 'synthesis' && firstSynth.evicted).toBeGreaterThan(0);
    expect(second.buffer!.size).toBe(second.bufferCapacity);
  }, 30_000);

  it('replaces the BN-matching targets of the named layers only', () => {
    const teacher = tinyTeacher(1);
    const name = teacher.layers.find((l) => l.getClassName() === 'BatchNormalization')!.name;
    const plain = wrapTeacher(teacher);
    expect(Array.from(plain.bnLayers[0]!.mean.dataSync())).toEqual(Array.from(Float32Array.from([0.1, -0.2, 0.3, 0])));
    const field = { layer: name, mean: Float32Array.from([1, 2, 3, 4]), variance: Float32Array.from([5, 6, 7, 8]) };
    const over = wrapTeacher(teacher, [field]);
    expect(Array.from(over.bnLayers[0]!.mean.dataSync())).toEqual([1, 2, 3, 4]);
    expect(Array.from(over.bnLayers[0]!.variance.dataSync())).toEqual([5, 6, 7, 8]);
    expect(() => wrapTeacher(teacher, [{ ...field, layer: 'nope' }])).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
    expect(() => wrapTeacher(teacher, [{ ...field, mean: Float32Array.from([1]), variance: Float32Array.from([1]) }])).toThrow(expect.objectContaining({ code: 'EDGEKD_SHAPE_MISMATCH' }));
  });
});
