import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCompute } from '../compute';
import { saveModel } from '../zoo/model-io';
import { distillDataFree, type DataFreeDistillOptions } from '../distill/distill';
import { loadBuffer, saveBuffer } from '../distill/buffer-file';
import { tinyStudent, tinyTeacher } from '../distill/tiny-models.test-helper';
import { generateSigningKey } from '../../shared/package';
import { createRandom } from '../../shared/random/seeded-random';
import { createEngineSteps, type EngineStepsDeps } from './engine-steps';
import { degradeBatch } from './degradation';
import { signature } from './fit-degradation';
import type { RetrainContext } from './steps';
import { studentCard, tinyCurrentModel, TINY_DISTILL } from './student-card.test-helper';

const root = mkdtempSync(join(tmpdir(), 'edgekd-field-imitation-step-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  await initCompute({ backend: 'wasm' });
});

const G = { height: 8, width: 8, channels: 1, range: [-1, 1] as const };

describe('field-imitation retrain step', () => {
  it('fits the field’s degradation from input statistics and re-distils the deployed student on degraded synthetic samples at the schedule’s step count; the control and an unchanged field do not', async () => {
    const teacherDir = join(root, 'teacher');
    const teacher = tinyTeacher(1);
    await saveModel(teacher, teacherDir);
    const studentDir = join(root, 'student');
    const first = await distillDataFree({ teacher, student: tinyStudent(2), method: 'ssdkd', seed: 1, input: { range: { low: -1, high: 1 }, flipInvariant: false }, config: TINY_DISTILL });
    await saveModel(tinyStudent(2), studentDir, studentCard(3));
    saveBuffer(studentDir, first.buffer!);

    // What the devices would report: statistics of a clean and of a contrast-reduced set. Here both
    // come from synthetic images (the test has no field); the step sees only the four means.
    const buffer = loadBuffer(studentDir);
    const pixels = buffer.gather(Array.from({ length: buffer.size }, (_, i) => i));
    const baseline = signature(pixels, buffer.size, G, { kind: 'none', amount: 0 }, 1);
    const field = signature(degradeBatch(pixels, buffer.size, { kind: 'contrast', amount: 0.4 }, G, createRandom(3)), buffer.size, G, { kind: 'none', amount: 0 }, 1);

    const seen: DataFreeDistillOptions[] = [];
    const { key } = generateSigningKey(new Date(Date.now() - 60_000));
    const deps = (adaptation?: EngineStepsDeps['adaptation']) =>
      createEngineSteps({
        teacherDir,
        workDir: join(root, 'runs'),
        signingKey: key,
        current: async () => tinyCurrentModel(studentDir, 3),
        distill: { config: TINY_DISTILL },
        ...(adaptation ? { adaptation } : {}),
        distillImpl: async (o) => {
          seen.push(o);
          return distillDataFree(o);
        },
        rollout: async () => ({ outcome: 'promoted', rolloutId: 'direct', summary: {} }),
      });
    const ctx = (runId: string, inputShift: RetrainContext['inputShift']): RetrainContext => ({ runId, cohort: 'site', model: { name: 'fm-student', version: '3' }, triggerReports: [], featureTargets: [], inputShift, signal: new AbortController().signal });

    const d = await deps().distill(ctx('run-1', { baseline, field }));
    expect(d.summary).toMatchObject({ adaptation: 'field-imitation', degradation: { kind: 'contrast' } });
    expect(Math.abs((d.summary.degradation as { amount: number }).amount - 0.4)).toBeLessThanOrEqual(0.1);
    // The same number of student steps as the schedule, on the deployed buffer, no new synthesis, no BN targets.
    expect(d.summary.studentSteps).toBe(2 * 2);
    expect(seen[0]!.warmStart!.kdInputs).toBeTypeOf('function');
    expect(seen[0]!.warmStart!.bnTargets).toEqual([]);
    expect(seen[0]!.warmStart!.buffer!.size).toBe(buffer.size);
    expect(seen[0]!.config).toMatchObject({ synthesis: { kind: 'none' } });

    // The control: no field information reaches the engine, whatever the reports say.
    const c = await deps({ method: 'auto', useFieldTargets: false }).distill(ctx('run-2', { baseline, field }));
    expect(c.summary).toMatchObject({ adaptation: 'control', bnTargets: [] });
    expect(seen[1]!.warmStart!.kdInputs).toBeUndefined();

    // A field whose statistics did not move: nothing to fit, the re-distillation fallback says why.
    const n = await deps().distill(ctx('run-3', { baseline, field: baseline }));
    expect(n.summary).toMatchObject({ adaptation: 'redistill', imitationSkipped: expect.stringMatching(/no degradation to fit/) });
    expect(seen[2]!.warmStart!.kdInputs).toBeUndefined();

    // Asked for explicitly without input statistics: a typed failure, not a silent fallback.
    await expect(deps({ method: 'field-imitation' }).distill(ctx('run-4', null))).rejects.toMatchObject({ code: 'EDGEKD_JOB_FAILED' });
  }, 120_000);
});
