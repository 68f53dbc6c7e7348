import { describe, expect, it } from 'vitest';
import type { PackageContents } from '../../shared/package/verify-package';
import { cohortOfDevice, rolloutTargetOfCohort } from './cohort';
import { createRetrainPipeline, type RetrainEngines } from './retrain-pipeline';
import type { RetrainContext } from './steps';

const ctx = (cohort: string): RetrainContext => ({ runId: 'r1', cohort, model: { name: 'fm', version: '3' }, triggerReports: [], featureTargets: [], signal: new AbortController().signal });
const pkg: PackageContents = { manifest: { name: 'fm', version: 4 }, signature: {}, model: new Uint8Array(2) } as unknown as PackageContents;

function engines(calls: string[]): RetrainEngines {
  return {
    adapt: async (c) => (calls.push(`adapt ${c.runId}`), { student: '/s', distillRunId: 'd1', summary: {} }),
    package: async (_c, d) => (calls.push(`package ${d.student}`), { package: { name: 'fm', version: 4, sha256: 'a'.repeat(64) }, artifact: pkg, summary: {} }),
    release: (c) => void calls.push(`release ${c.runId}`),
  };
}

describe('the retrain pipeline', () => {
  it('rolls the package out to exactly the alarming cohort (its group), then releases the run', async () => {
    const calls: string[] = [];
    const targets: unknown[] = [];
    const p = createRetrainPipeline({ engines: engines(calls), rollout: async (artifact, target) => (targets.push(target), expect(artifact).toBe(pkg), { outcome: 'promoted', rolloutId: 'ro', summary: {} }) });
    const c = ctx('group:line-a');
    const d = await p.distill(c);
    const out = await p.package(c, d);
    const r = await p.rollout(c, out);
    expect(targets).toEqual([{ groups: ['line-a'] }]);
    expect(r.summary).toMatchObject({ target: { groups: ['line-a'] } });
    expect(calls).toEqual(['adapt r1', 'package /s', 'release r1']);
  });

  it('releases the run when the rollout fails, and refuses to start for a cohort that names no devices', async () => {
    const calls: string[] = [];
    const p = createRetrainPipeline({ engines: engines(calls), rollout: async () => { throw new Error('broker down'); } });
    const c = ctx('device:dev-7');
    await expect(p.rollout(c, { package: { name: 'fm', version: 4, sha256: 'a' }, artifact: pkg, summary: {} })).rejects.toThrow('broker down');
    expect(calls).toEqual(['release r1']);
    await expect(p.distill(ctx('tag:'))).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
    expect(calls).toEqual(['release r1']);
  });
});

describe('cohorts and rollout targets', () => {
  it('files a device under its first group, or under itself when it has none, and maps the cohort back to that target', () => {
    expect(cohortOfDevice('d1', ['line-a', 'eu'])).toBe('group:line-a');
    expect(cohortOfDevice('d1', [])).toBe('device:d1');
    expect(cohortOfDevice('d1', undefined)).toBe('device:d1');
    expect(rolloutTargetOfCohort('group:line-a')).toEqual({ groups: ['line-a'] });
    expect(rolloutTargetOfCohort('device:d1')).toEqual({ devices: ['d1'] });
    expect(rolloutTargetOfCohort('site-1')).toEqual({ groups: ['site-1'] });
    expect(rolloutTargetOfCohort('group:')).toBeNull();
    expect(rolloutTargetOfCohort('tag:x')).toBeNull();
  });
});
