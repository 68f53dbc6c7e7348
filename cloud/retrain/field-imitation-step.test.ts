import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCompute } from '../compute';
import { distillDataFree, type DataFreeDistillOptions } from '../distill/distill';
import { generateSigningKey } from '../../shared/package';
import { createEngineSteps, type EngineStepsDeps } from './engine-steps';
import type { RetrainContext } from './steps';
import { deployedLineWithContrastShift } from './deployed-line.test-helper';
import { tinyCurrentModel, TINY_DISTILL } from './student-card.test-helper';

const root = mkdtempSync(join(tmpdir(), 'edgekd-field-imitation-step-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  await initCompute({ backend: 'wasm' });
});


describe('field-imitation retrain step', () => {
  it('fits the field’s degradation from input statistics and re-distils the deployed student on degraded synthetic samples at the schedule’s step count; the control and an unchanged field do not', async () => {
    const { teacherDir, studentDir, buffer, baseline, field } = await deployedLineWithContrastShift(root);

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
