import { describe, expect, it } from 'vitest';
import { fleetCanaryRollout } from './fleet-canary';
import type { ModelPackage } from '../../shared/package/build-package';
import type { RetrainContext } from './steps';

const pkg = { manifest: { name: 'fm' }, signature: {}, model: new Uint8Array(4) } as unknown as ModelPackage;
const ctx = (signal = new AbortController().signal): RetrainContext => ({ runId: 'r', cohort: 'site-1', model: { name: 'fm', version: '3' }, triggerReports: [], featureTargets: [], signal });

function fakeFleet(statuses: string[]) {
  const calls: string[] = [];
  const requests: Array<Record<string, unknown>> = [];
  let i = 0;
  return {
    calls,
    requests,
    fleet: {
      listPackages: async () => [{ name: 'fm', version: 3, manifest: { driftReference: { classPrior: [0.3, 0.7] } } }, { name: 'fm', version: 2, manifest: { driftReference: { classPrior: [0.9, 0.1] } } }] as never,
      registerPackage: async () => (calls.push('register'), { packageId: 'p1' }) as never,
      createRollout: async (req: { packageId: string; target: unknown }) => (requests.push(req), calls.push(`create ${req.packageId} ${JSON.stringify(req.target)}`), { id: 'ro1' }) as never,
      getRollout: async () => ({ id: 'ro1', status: statuses[Math.min(i++, statuses.length - 1)], devices: 3, counts: {} }) as never,
      abortRollout: async (_id: string, reason?: string) => (calls.push(`abort ${reason}`), {}) as never,
    },
  };
}

describe('fleet canary rollout step', () => {
  it('promotes when the rollout completes, on the target it was given', async () => {
    const f = fakeFleet(['running', 'running', 'completed']);
    const step = fleetCanaryRollout({ fleet: f.fleet, sleep: async () => {} });
    expect(await step(pkg, { groups: ['site-1'] }, ctx())).toMatchObject({ outcome: 'promoted', rolloutId: 'ro1' });
    expect(f.calls).toEqual(['register', 'create p1 {"groups":["site-1"]}']);
  });
  it('reports a roll back when the ML-quality gate rolls the canary back', async () => {
    const f = fakeFleet(['running', 'rolled_back']);
    const step = fleetCanaryRollout({ fleet: f.fleet, sleep: async () => {} });
    expect((await step(pkg, { tags: ['x'] }, ctx())).outcome).toBe('rolled-back');
  });
  it('gates a shadowed rollout on drift repair against the serving package\'s class prior', async () => {
    const f = fakeFleet(['completed']);
    const request = { gates: { minShadowAgreement: 0.5 }, activation: { shadow: { inferences: 64 } } };
    await fleetCanaryRollout({ fleet: f.fleet, request, sleep: async () => {} })(pkg, { groups: ['g'] }, ctx());
    expect(f.requests[0]!.gates).toMatchObject({ minShadowAgreement: 0.25, requireMetrics: true, driftRepair: { classPrior: [0.3, 0.7], minImprovement: 0 } });
    await fleetCanaryRollout({ fleet: f.fleet, request, mlGate: 'regression', sleep: async () => {} })(pkg, { groups: ['g'] }, ctx());
    expect(f.requests[1]!.gates).toEqual({ minShadowAgreement: 0.5 });
  });
  it('aborts the rollout when the loop is paused', async () => {
    const f = fakeFleet(['running']);
    const ac = new AbortController();
    const step = fleetCanaryRollout({ fleet: f.fleet, sleep: async () => ac.abort(new Error('paused')) });
    await expect(step(pkg, { groups: ['g'] }, ctx(ac.signal))).rejects.toThrow('paused');
    expect(f.calls).toContain('abort retrain loop paused');
  });
});
