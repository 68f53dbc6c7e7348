import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCompute } from '../compute';
import type { ModelCard } from '../zoo/model-card';
import { saveModel } from '../zoo/model-io';
import { buildModel } from '../zoo/zoo';
import { distillToDir, readBnTargetsFile, readDistillConfigFile } from './distill-to-dir';
import type { DistillEvent } from './events';

const root = mkdtempSync(join(tmpdir(), 'edgekd-distill-to-dir-'));
let teacherDir: string;
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  await initCompute({ backend: 'wasm' });
  const teacher = buildModel('lenet5-bn', { inputShape: [28, 28, 1], numClasses: 10, seed: 1 });
  const card: ModelCard = {
    schemaVersion: 1, name: 'teacher', architecture: 'lenet5-bn', output: 'logits', inputShape: [28, 28, 1], numClasses: 10,
    classNames: Array.from({ length: 10 }, (_, i) => String(i)), normalization: { kind: 'range', low: -1, high: 1, rawMax: 255 },
    dataset: { name: 'synthetic-test', split: 'none' }, accuracy: null, params: { total: 0, trainable: 0 }, macs: 0,
    training: { command: 'test', seed: 1 }, createdAt: new Date(0).toISOString(),
  };
  teacherDir = join(root, 'teacher');
  await saveModel(teacher, teacherDir, card);
  teacher.dispose();
});

const tiny = { warmupEpochs: 0, batchSize: 16, epochs: 2, kdStepsPerEpoch: 2, synthesis: { batchSize: 16, gSteps: 1 } };

describe('distillToDir', () => {
  it('plans its progress, reports engine events and returns the run record it wrote', async () => {
    const planned: number[] = [];
    const events: DistillEvent['type'][] = [];
    const r = await distillToDir(
      { teacherDir, studentArch: 'lenet5-half', outDir: join(root, 'out'), budget: 0.5, trainSetSize: 64, seed: 3, config: tiny, evaluate: false, command: 'test' },
      { onPlan: (n) => planned.push(n), onEvent: (e) => events.push(e.type) },
    );
    expect(planned).toHaveLength(1);
    expect(planned[0]).toBeGreaterThan(0);
    expect(events).toContain('epoch');
    expect(r.method).toBe('ssdkd');
    expect(r.record.metrics.samplesGenerated).toBe(64);
    expect(JSON.parse(readFileSync(join(r.outDir, 'run-record.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(r.record)));
    expect(existsSync(join(r.outDir, '.checkpoint'))).toBe(false);
  }, 60_000);

  it('refuses an out-of-range budget and an unknown method before loading a model, and stops on an aborted signal', async () => {
    const base = { teacherDir: join(root, 'absent'), studentArch: 'lenet5-half' as const, outDir: join(root, 'x'), command: 'test' };
    await expect(distillToDir({ ...base, budget: 1.5 })).rejects.toMatchObject({ code: 'EDGEKD_BUDGET_OUT_OF_RANGE' });
    await expect(distillToDir({ ...base, method: 'magic' })).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
    const aborted = AbortSignal.abort();
    await expect(distillToDir({ ...base, teacherDir, budget: 0.5, trainSetSize: 64, config: tiny, evaluate: false, signal: aborted })).rejects.toMatchObject({ code: 'EDGEKD_RUN_CANCELLED' });
  }, 60_000);

  it('reads configuration and BatchNorm target files, refusing malformed ones as typed errors', () => {
    writeFileSync(join(root, 'bn.json'), JSON.stringify([{ layer: 'bn1', mean: [0, 1], variance: [1, 2] }]));
    expect(readBnTargetsFile(join(root, 'bn.json'))).toEqual([{ layer: 'bn1', mean: Float32Array.from([0, 1]), variance: Float32Array.from([1, 2]) }]);
    writeFileSync(join(root, 'bad-bn.json'), JSON.stringify([{ layer: 'bn1', mean: ['x'], variance: [1] }]));
    expect(() => readBnTargetsFile(join(root, 'bad-bn.json'))).toThrow(expect.objectContaining({ code: 'EDGEKD_CONFIG_INVALID' }));
    writeFileSync(join(root, 'cfg.json'), '[1, 2]');
    expect(() => readDistillConfigFile(join(root, 'cfg.json'))).toThrow(expect.objectContaining({ code: 'EDGEKD_CONFIG_INVALID' }));
    expect(() => readDistillConfigFile(join(root, 'none.json'))).toThrow(expect.objectContaining({ code: 'EDGEKD_NOT_FOUND' }));
  });
});
