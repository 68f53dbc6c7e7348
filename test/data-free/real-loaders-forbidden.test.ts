/**
 * Data-free means data-free, enforced: every function that can load real images (the official IDX
 * loaders, the npm dataset loaders, the CIFAR-10 loader, the PNG folder loader, the IDX reader and the built-in
 * dispatcher) is replaced by one that throws and records the call. Then the whole data-free
 * path runs on tiny models: distillation, saving and re-loading its buffer, int8 calibration and
 * signed export, and the automatic retrain pipeline (drift alarm → re-distil → package). Any read
 * of a real dataset fails the test.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const { calls, forbid } = vi.hoisted(() => {
  const calls: string[] = [];
  const forbid = (name: string) => () => {
    calls.push(name);
    throw new Error(`real dataset loader ${name} was called on the data-free path`);
  };
  return { calls, forbid };
});
vi.mock('../../cloud/data/official-datasets', async (orig) => ({ ...(await orig<object>()), loadOfficialFashionMnist: forbid('loadOfficialFashionMnist'), loadOfficialMnist: forbid('loadOfficialMnist') }));
vi.mock('../../cloud/data/npm-datasets', async (orig) => ({ ...(await orig<object>()), loadFashionMnist: forbid('loadFashionMnist'), loadMnist: forbid('loadMnist') }));
vi.mock('../../cloud/data/cifar10-dataset', async (orig) => ({ ...(await orig<object>()), loadCifar10: forbid('loadCifar10'), loadCifar10Raw: forbid('loadCifar10Raw') }));
vi.mock('../../cloud/data/image-folder', async (orig) => ({ ...(await orig<object>()), loadImageFolder: forbid('loadImageFolder') }));
vi.mock('../../cloud/data/idx-file', async (orig) => ({ ...(await orig<object>()), readIdxFile: forbid('readIdxFile'), parseIdx: forbid('parseIdx') }));
vi.mock('../../cloud/data/builtin-datasets', async (orig) => ({ ...(await orig<object>()), loadBuiltinDataset: forbid('loadBuiltinDataset') }));

import { initCompute } from '../../cloud/compute';
import * as data from '../../cloud/data';
import { loadBuffer, saveBuffer } from '../../cloud/distill/buffer-file';
import { distillDataFree } from '../../cloud/distill/distill';
import { tinyStudent, tinyTeacher } from '../../cloud/distill/tiny-models.test-helper';
import { createDriftService } from '../../cloud/drift/drift-service';
import { fakeDriftEnvelope } from '../../cloud/drift/testing-reports';
import { createEngineSteps } from '../../cloud/retrain/engine-steps';
import { createRetrainController } from '../../cloud/retrain/retrain-controller';
import { studentCard, tinyCurrentModel, TINY_DISTILL } from '../../cloud/retrain/student-card.test-helper';
import { openSqlite } from '../../cloud/store/sqlite-db';
import { saveModel } from '../../cloud/zoo/model-io';
import { assertPackageValid, generateSigningKey, trustedKeyEntry, type ModelPackage } from '../../shared/package';

const tiny = TINY_DISTILL;
const root = mkdtempSync(join(tmpdir(), 'edgekd-data-free-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  await initCompute({ backend: 'wasm' });
});

describe('the data-free path with every real-dataset loader throwing', () => {
  it('the loaders really are disabled (through the package index too)', () => {
    expect(() => data.loadBuiltinDataset('fashion-mnist')).toThrow(/data-free path/);
    expect(() => data.loadOfficialMnist()).toThrow(/data-free path/);
    expect(() => data.loadFashionMnist()).toThrow(/data-free path/);
    expect(() => data.loadCifar10()).toThrow(/data-free path/);
    expect(() => data.loadCifar10Raw()).toThrow(/data-free path/);
    expect(() => data.loadImageFolder('/nonexistent', { inputShape: [8, 8, 1] })).toThrow(/data-free path/);
    expect(() => data.readIdxFile('/nonexistent', '')).toThrow(/data-free path/);
    calls.length = 0;
  });

  it('distils, saves and reloads its buffer, calibrates, exports a signed package and retrains automatically without reading one real image', async () => {
    const teacherDir = join(root, 'teacher');
    const teacher = tinyTeacher(1);
    await saveModel(teacher, teacherDir);
    const bnLayer = teacher.layers.find((l) => l.getClassName() === 'BatchNormalization')!.name;
    // 1. Distillation.
    const studentDir = join(root, 'student');
    const first = await distillDataFree({ teacher, student: tinyStudent(2), method: 'ssdkd', seed: 1, input: { range: { low: -1, high: 1 }, flipInvariant: false }, config: tiny });
    await saveModel(tinyStudent(2), studentDir, studentCard(3, 'fashion-mnist'));
    saveBuffer(studentDir, first.buffer!);
    expect(loadBuffer(studentDir).size).toBe(first.buffer!.size);

    // 2-4. Retrain pipeline: drift alarm → warm-started re-distillation → int8 calibration on the
    // buffer → signed export → rollout, all automatic.
    let now = 1_800_000_000_000;
    const db = openSqlite(':memory:');
    const drift = createDriftService({ db, clock: () => now });
    await drift.migrate();
    const { key } = generateSigningKey(new Date(now - 60_000));
    const trusted = { schemaVersion: 1 as const, keys: [trustedKeyEntry(key.publicKeyRaw, { validFrom: new Date(0).toISOString() })] };
    const installed: ModelPackage[] = [];
    const steps = createEngineSteps({
      teacherDir,
      workDir: join(root, 'runs'),
      signingKey: key,
      current: async () => tinyCurrentModel(studentDir, 1),
      distill: { config: tiny },
      calibrationCount: 16,
      rollout: async (pkg) => {
        installed.push(pkg);
        return { outcome: 'promoted', rolloutId: 'direct', summary: {} };
      },
    });
    const ctl = createRetrainController({ db, clock: () => now, drift, steps, policy: { minAlarmDurationMs: 0 } });
    for (let i = 0; i < 3; i++) {
      await drift.ingest(fakeDriftEnvelope({ deviceId: `dev${i}`, key: `k${i}`, p: 1e-9, alarm: true, at: now, features: [{ layer: bnLayer, mean: [0.5, 0.1, -0.4, 0.2], variance: [1, 2, 0.5, 1], sampleCount: 500 }] }));
    }
    now += 1000;
    const decisions = await ctl.tick();
    expect(decisions[0]!.decision.action).toBe('start');
    await ctl.idle();
    const run = (await ctl.run(decisions[0]!.runId!))!;
    expect(run.state).toBe('promoted');
    const m = assertPackageValid(installed[0]!, trusted);
    // The package step loads the synthetic calibration set from the buffer either way; on a model this
    // tiny the quantizer declines int8 (few input channels) and ships fp32, as in engine-steps.test.ts.
    if (m.quantization.precision === 'int8') expect(m.quantization).toMatchObject({ calibration: { source: 'synthetic' } });
    else expect(m.quantization).toMatchObject({ precision: 'fp32', int8Declined: { rule: 'few-input-channels' } });
    expect(existsSync(join(run.steps[0]!.summary!.studentDir as string, 'buffer.bin'))).toBe(true);
    await db.close();

    // Not one real-dataset loader was reached on the way.
    expect(calls).toEqual([]);
  }, 180_000);
});
