import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../../shared/errors';
import { applyEvent, createRolloutState, nextDeadline, rolloutCounts, type EngineCommand, type EngineEvent, type RolloutState } from './rollout-engine';
import { withDefaults, type RolloutRequest } from './rollout-spec';
import { planWaves } from './plan-waves';
import { evaluateGates, type HealthSample } from './gates';

const devices = (n: number): string[] => Array.from({ length: n }, (_, i) => `d${String(i).padStart(2, '0')}`);

function make(n: number, over: Partial<RolloutRequest> = {}): RolloutState {
  const spec = withDefaults({
    packageId: 'pkg',
    target: { devices: devices(n) },
    waves: { canaryDevices: 1, firstWaveDevices: 2, growthFactor: 2 },
    bakeMs: 1_000,
    timeouts: { offeredMs: 10_000, stepMs: 5_000, rollbackMs: 5_000 },
    ...over,
  });
  return createRolloutState('r1', spec, devices(n), 0);
}

/** Runs a script of [time, event] and returns every command produced. */
function run(s: RolloutState, script: Array<[number, EngineEvent]>): EngineCommand[] {
  return script.flatMap(([t, e]) => applyEvent(s, e, t));
}

const commit = (deviceId: string, health: HealthSample = { inferences: 100, errors: 0, p95LatencyMs: 5, shadowAgreement: 0.99, confidenceShift: 0.01 }): EngineEvent => ({
  type: 'outcome', deviceId, outcome: 'committed', health,
});
const fail = (deviceId: string, errorCode: ErrorCode = 'EDGEKD_HASH_MISMATCH'): EngineEvent => ({ type: 'outcome', deviceId, outcome: 'failed', errorCode });
const offers = (cmds: EngineCommand[]): string[] => cmds.flatMap((c) => (c.type === 'offer' ? [c.deviceId] : []));
const rollbacks = (cmds: EngineCommand[]): string[] => cmds.flatMap((c) => (c.type === 'rollback' ? [c.deviceId] : []));

describe('planWaves', () => {
  it.each([
    [0, [] as number[]],
    [1, [1]],
    [2, [1, 1]],
    [10, [1, 2, 4, 3]],
    [100, [1, 2, 4, 8, 16, 32, 37]],
  ])('splits %i devices into canary + geometric waves %j', (n, sizes) => {
    expect(planWaves(devices(n), { canaryDevices: 1, firstWaveDevices: 2, growthFactor: 2 }).map((w) => w.length)).toEqual(sizes);
  });
  it('keeps every device exactly once', () => {
    const w = planWaves(devices(57), { canaryDevices: 3, firstWaveDevices: 5, growthFactor: 1.5 });
    expect(w.flat()).toEqual(devices(57));
  });
});

describe('gates', () => {
  const spec = withDefaults({ packageId: 'p', target: {}, gates: { maxErrorRate: 0.01, maxP95LatencyMs: 50, minShadowAgreement: 0.9, maxConfidenceShift: 0.1 } }).gates;
  const good = { inferences: 1000, errors: 1, p95LatencyMs: 10, shadowAgreement: 0.95, confidenceShift: -0.02 };
  it.each([
    ['all good', { size: 4, committed: 4, failed: 0 }, [good], true, []],
    ['install success below minimum', { size: 4, committed: 3, failed: 1 }, [good], false, ['installSuccess', 'failurePercent']],
    ['error rate too high', { size: 1, committed: 1, failed: 0 }, [{ ...good, errors: 50 }], false, ['errorRate']],
    ['p95 latency too high', { size: 1, committed: 1, failed: 0 }, [{ ...good, p95LatencyMs: 80 }], false, ['p95Latency']],
    ['shadow agreement too low', { size: 1, committed: 1, failed: 0 }, [{ ...good, shadowAgreement: 0.5 }], false, ['shadowAgreement']],
    ['confidence shifted', { size: 1, committed: 1, failed: 0 }, [{ ...good, confidenceShift: -0.3 }], false, ['confidenceShift']],
    ['no metrics, not required', { size: 1, committed: 1, failed: 0 }, [], true, []],
  ] as const)('%s', (_name, counts, health, passed, failing) => {
    const v = evaluateGates(spec, counts, health);
    expect(v.passed).toBe(passed);
    expect(v.results.filter((r) => r.outcome === 'fail').map((r) => r.gate)).toEqual(failing);
  });
  it('fails a configured gate without data when metrics are required', () => {
    const v = evaluateGates({ ...spec, requireMetrics: true }, { size: 1, committed: 1, failed: 0 }, []);
    expect(v.passed).toBe(false);
    expect(v.results.find((r) => r.gate === 'errorRate')?.outcome).toBe('no-data');
  });
});

describe('rollout engine', () => {
  it('offers the canary first, then each wave after the previous one baked and passed', () => {
    const s = make(4);
    expect(offers(applyEvent(s, { type: 'start' }, 0))).toEqual(['d00']);
    expect(offers(applyEvent(s, commit('d00'), 100))).toEqual([]);
    expect(s.waves[0]!.phase).toBe('baking');
    expect(offers(applyEvent(s, { type: 'tick' }, 500))).toEqual([]); // still baking
    expect(offers(applyEvent(s, { type: 'tick' }, 1_100))).toEqual(['d01', 'd02']);
    run(s, [[1_200, commit('d01')], [1_300, commit('d02')]]);
    expect(offers(applyEvent(s, { type: 'tick' }, 2_300))).toEqual(['d03']);
    run(s, [[2_400, commit('d03')], [3_400, { type: 'tick' }]]);
    expect(s.status).toBe('completed');
    expect(rolloutCounts(s).committed).toBe(4);
  });

  it('rolls back automatically when the canary fails', () => {
    const s = make(4);
    const cmds = run(s, [[0, { type: 'start' }], [100, { type: 'progress', deviceId: 'd00', step: 'baking' }], [200, fail('d00')], [1_200, { type: 'tick' }]]);
    expect(s.waves[0]!.phase).toBe('failed');
    expect(s.waves[0]!.verdict?.results.find((r) => r.gate === 'installSuccess')?.outcome).toBe('fail');
    expect(offers(cmds)).toEqual(['d00']); // nobody else was ever offered
    expect(s.status).toBe('rolled_back');
    expect(Object.values(s.devices).filter((d) => d.state === 'skipped')).toHaveLength(3);
  });

  it('rolls back a committed canary whose ML-quality gate fails, and waits for the confirmation', () => {
    const s = make(4, { gates: { minShadowAgreement: 0.9 } });
    const cmds = run(s, [[0, { type: 'start' }], [100, commit('d00', { inferences: 50, errors: 0, p95LatencyMs: 3, shadowAgreement: 0.4, confidenceShift: 0 })], [1_100, { type: 'tick' }]]);
    expect(rollbacks(cmds)).toEqual(['d00']);
    expect(s.status).toBe('rolling_back');
    applyEvent(s, { type: 'outcome', deviceId: 'd00', outcome: 'rolled_back' }, 1_500);
    expect(s.status).toBe('rolled_back');
    expect(s.devices.d00!.state).toBe('rolled_back');
    expect(s.reason).toMatch(/shadowAgreement=0.4/);
  });

  it('uses the health reported during bake, not only the one at commit', () => {
    const s = make(2, { gates: { maxErrorRate: 0.05 } });
    run(s, [[0, { type: 'start' }], [10, commit('d00')], [500, { type: 'health', deviceId: 'd00', health: { inferences: 100, errors: 20 } }], [1_010, { type: 'tick' }]]);
    expect(s.status).toBe('rolling_back');
    expect(s.waves[0]!.verdict?.results.find((r) => r.gate === 'errorRate')?.value).toBeCloseTo(0.2);
  });

  it('aborts mid-wave once the failure percentage crosses the threshold and rolls back every changed device', () => {
    const s = make(10, { waves: { canaryDevices: 1, firstWaveDevices: 8, growthFactor: 2 }, gates: { abortFailurePercent: 20, minExecutedForAbort: 4 } });
    run(s, [[0, { type: 'start' }], [10, commit('d00')], [1_010, { type: 'tick' }]]);
    expect(s.currentWave).toBe(1);
    const cmds = run(s, [[1_100, commit('d01')], [1_200, fail('d02')], [1_300, { type: 'progress', deviceId: 'd03', step: 'downloading' }], [1_400, fail('d04')]]);
    // executed 4 (d00, d01 committed; d02, d04 failed) → 50% > 20%
    expect(s.status).toBe('rolling_back');
    expect(rollbacks(cmds).sort()).toEqual(['d00', 'd01', 'd03']);
    expect(cmds.some((c) => c.type === 'cancel' && c.deviceId === 'd05')).toBe(true);
    expect(s.devices.d09!.state).toBe('skipped');
  });

  it('with rollback scope "wave" keeps earlier waves on the new model', () => {
    const s = make(3, { rollbackScope: 'wave', waves: { canaryDevices: 1, firstWaveDevices: 2, growthFactor: 2 }, gates: { abortFailurePercent: 100 } });
    const cmds = run(s, [[0, { type: 'start' }], [10, commit('d00')], [1_010, { type: 'tick' }], [1_100, commit('d01')], [1_200, fail('d02')], [2_200, { type: 'tick' }]]);
    expect(rollbacks(cmds)).toEqual(['d01']);
    expect(s.devices.d00!.state).toBe('committed');
  });

  it.each([
    ['offered with no answer', [] as Array<[number, EngineEvent]>, 10_000],
    ['a step that never reports again', [[1_000, { type: 'progress', deviceId: 'd00', step: 'downloading' }]] as Array<[number, EngineEvent]>, 6_000],
  ])('times out a device %s and counts it as failed', (_n, script, at) => {
    const s = make(2);
    run(s, [[0, { type: 'start' }], ...script]);
    expect(nextDeadline(s)).toBe(at);
    const cmds = applyEvent(s, { type: 'tick' }, at);
    expect(s.devices.d00!.state).toBe('timed_out');
    expect(s.devices.d00!.errorCode).toBe('EDGEKD_STEP_TIMEOUT');
    expect(cmds).toContainEqual({ type: 'cancel', deviceId: 'd00' });
  });

  it('ends as failed when a rollback is never confirmed', () => {
    const s = make(2, { gates: { minShadowAgreement: 0.9 } });
    run(s, [[0, { type: 'start' }], [10, commit('d00', { inferences: 1, errors: 0, shadowAgreement: 0.1 })], [1_010, { type: 'tick' }], [6_010, { type: 'tick' }]]);
    expect(s.devices.d00!.state).toBe('rollback_failed');
    expect(s.status).toBe('failed');
  });

  it('pauses between waves and resumes where it stopped', () => {
    const s = make(3);
    run(s, [[0, { type: 'start' }], [10, { type: 'pause' }], [20, commit('d00')], [1_020, { type: 'tick' }]]);
    expect(s.status).toBe('paused');
    expect(s.waves[0]!.phase).toBe('passed');
    expect(s.devices.d01!.state).toBe('queued');
    expect(offers(applyEvent(s, { type: 'resume' }, 5_000))).toEqual(['d01', 'd02']);
  });

  it('abort cancels offers, rolls back what changed and ends as aborted', () => {
    const s = make(3);
    run(s, [[0, { type: 'start' }], [10, commit('d00')], [1_010, { type: 'tick' }], [1_100, { type: 'progress', deviceId: 'd01', step: 'warming' }]]);
    const cmds = applyEvent(s, { type: 'abort', reason: 'operator' }, 1_200);
    expect(rollbacks(cmds).sort()).toEqual(['d00', 'd01']);
    expect(cmds).toContainEqual({ type: 'cancel', deviceId: 'd02' });
    run(s, [[1_300, { type: 'outcome', deviceId: 'd00', outcome: 'rolled_back' }], [1_400, { type: 'outcome', deviceId: 'd01', outcome: 'rolled_back' }]]);
    expect(s.status).toBe('aborted');
  });

  it('ignores duplicate, late and unknown reports', () => {
    const s = make(2);
    run(s, [[0, { type: 'start' }], [10, commit('d00')], [20, commit('d00')], [30, fail('d00')], [40, commit('nobody')]]);
    expect(s.devices.d00!.state).toBe('committed');
    expect(rolloutCounts(s).failed).toBe(0);
  });

  it('survives a JSON round trip (persisted snapshot) mid-wave', () => {
    const s = make(3);
    run(s, [[0, { type: 'start' }], [10, commit('d00')], [1_010, { type: 'tick' }]]);
    const restored = JSON.parse(JSON.stringify(s)) as RolloutState;
    run(restored, [[1_100, commit('d01')], [1_200, commit('d02')], [2_200, { type: 'tick' }]]);
    expect(restored.status).toBe('completed');
  });

  it('completes at once with an empty target', () => {
    const s = make(0);
    applyEvent(s, { type: 'start' }, 0);
    expect(s.status).toBe('completed');
  });
});
