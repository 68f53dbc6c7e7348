import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCompute } from '../compute';
import { openSqlite } from '../store/sqlite-db';
import { saveModel, readModelCard } from '../zoo/model-io';
import { distillDataFree } from '../distill/distill';
import { saveBuffer } from '../distill/buffer-file';
import type { DataFreeDistillOptions } from '../distill/distill';
import { tinyStudent, tinyTeacher } from '../distill/tiny-models.test-helper';
import { createDriftService } from '../drift/drift-service';
import { fakeDriftEnvelope } from '../drift/testing-reports';
import { assertPackageValid, generateSigningKey, trustedKeyEntry, type ModelPackage } from '../../shared/package';
import { createEngineSteps } from './engine-steps';
import { createRetrainController } from './retrain-controller';
import { studentCard, tinyCurrentModel, TINY_DISTILL } from './student-card.test-helper';

const tiny = TINY_DISTILL;
const root = mkdtempSync(join(tmpdir(), 'edgekd-engine-steps-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  await initCompute({ backend: 'wasm' });
});

describe('retrain engine steps', () => {
  it('turns an open cohort alarm into a re-distilled, signed int8 package warm-started from the deployed student with the field BN statistics, with no human step', async () => {
    // The deployed line: a teacher with BatchNorm, and a distilled student folder with its buffer.
    const teacherDir = join(root, 'teacher');
    const teacher = tinyTeacher(1);
    await saveModel(teacher, teacherDir);
    const bnLayer = teacher.layers.find((l) => l.getClassName() === 'BatchNormalization')!.name;
    const studentDir = join(root, 'student');
    const first = await distillDataFree({ teacher, student: tinyStudent(2), method: 'ssdkd', seed: 1, input: { range: { low: -1, high: 1 }, flipInvariant: false }, config: tiny });
    await saveModel(tinyStudent(2), studentDir, studentCard(3));
    saveBuffer(studentDir, first.buffer!);

    let now = 1_800_000_000_000;
    const db = openSqlite(':memory:');
    const drift = createDriftService({ db, clock: () => now });
    await drift.migrate();
    const { key } = generateSigningKey(new Date(now - 60_000));
    const trusted = { schemaVersion: 1 as const, keys: [trustedKeyEntry(key.publicKeyRaw, { validFrom: new Date(0).toISOString() })] };
    const installed: ModelPackage[] = [];
    const seenTargets: DataFreeDistillOptions['warmStart'][] = [];
    const steps = createEngineSteps({
      teacherDir,
      workDir: join(root, 'runs'),
      signingKey: key,
      current: async () => tinyCurrentModel(studentDir, 3),
      distill: { config: tiny },
      calibrationCount: 16,
      // The real engine, observed: what reaches it is the buffer and the field's statistics only.
      distillImpl: async (o) => {
        seenTargets.push(o.warmStart);
        return distillDataFree(o);
      },
      rollout: async (pkg) => {
        installed.push(pkg);
        return { outcome: 'promoted', rolloutId: 'direct', summary: {} };
      },
    });
    const ctl = createRetrainController({ db, clock: () => now, drift, steps, policy: { minAlarmDurationMs: 0 } });
    const fieldMean = [0.5, 0.1, -0.4, 0.2];
    for (let i = 0; i < 3; i++) {
      await drift.ingest(fakeDriftEnvelope({ deviceId: `dev${i}`, key: `k${i}`, p: 1e-9, alarm: true, at: now, features: [{ layer: bnLayer, mean: fieldMean, variance: [1, 2, 0.5, 1], sampleCount: 500 }] }));
    }
    now += 1000;
    const decisions = await ctl.tick();
    expect(decisions[0]!.decision.action).toBe('start');
    await ctl.idle();

    const run = (await ctl.run(decisions[0]!.runId!))!;
    expect(run.state).toBe('promoted');
    expect(run.steps.map((s) => s.name)).toEqual(['distill', 'package', 'rollout']);
    expect(run.steps[0]!.summary).toMatchObject({ bnTargets: [bnLayer] });
    // Warm start: the saved buffer, and the pooled field statistics as the BN layer's target.
    expect(seenTargets[0]!.buffer!.size).toBe(first.buffer!.size);
    expect(Array.from(seenTargets[0]!.bnTargets![0]!.mean)).toEqual(fieldMean.map((v) => Math.fround(v)));
    // The package: next version, signed, lineage to the deployed one. int8 is declined for this tiny
    // student (most of its MACs are in a 1-channel conv, which int8 runs slower), so it ships fp32 and says why.
    const m = assertPackageValid(installed[0]!, trusted);
    expect(m.version).toBe(4);
    expect(m.quantization).toMatchObject({ precision: 'fp32', int8Declined: { rule: 'few-input-channels' } });
    expect(m.lineage.parent).toEqual({ name: 'fm-student', version: 3, sha256: 'c'.repeat(64) });
    expect(m.driftReference?.featureStatistics?.[0]?.layer).toBe(bnLayer);
    // The new student folder is itself a distill output the next retrain can start from.
    const newDir = run.steps[0]!.summary!.studentDir as string;
    expect(existsSync(join(newDir, 'buffer.bin'))).toBe(true);
    expect(readModelCard(newDir).accuracy).toBeNull();
    await db.close();
  }, 120_000);
});
