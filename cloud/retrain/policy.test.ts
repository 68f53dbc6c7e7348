import { describe, expect, it } from 'vitest';
import { decideRetrain, DEFAULT_RETRAIN_POLICY, type RetrainFacts } from './policy';

const H = 3_600_000;
const base: RetrainFacts = {
  now: 100 * H,
  paused: { paused: false },
  alarm: { id: 'a1', openedAt: 99 * H, discoveries: 4, devices: 20 },
  lastRunStartedAt: null,
  computeUsedLastDayMs: 0,
  runningRuns: 0,
};

describe('retrain policy', () => {
  it('starts when an alarm has persisted and nothing blocks it', () => {
    expect(decideRetrain(DEFAULT_RETRAIN_POLICY, base).action).toBe('start');
  });
  it('does nothing without an alarm and waits while the alarm is young', () => {
    expect(decideRetrain(DEFAULT_RETRAIN_POLICY, { ...base, alarm: null }).action).toBe('none');
    const d = decideRetrain(DEFAULT_RETRAIN_POLICY, { ...base, alarm: { ...base.alarm!, openedAt: base.now - 60_000 } });
    expect(d.action).toBe('wait');
    expect(d.reason).toMatch(/needs 15.0 min/);
  });
  it('respects the cool-down after the previous run', () => {
    const d = decideRetrain(DEFAULT_RETRAIN_POLICY, { ...base, lastRunStartedAt: base.now - 2 * H });
    expect(d).toEqual({ action: 'wait', reason: expect.stringMatching(/cool-down/) });
    expect(decideRetrain(DEFAULT_RETRAIN_POLICY, { ...base, lastRunStartedAt: base.now - 7 * H }).action).toBe('start');
  });
  it('respects the daily compute budget and the concurrency limit', () => {
    expect(decideRetrain(DEFAULT_RETRAIN_POLICY, { ...base, computeUsedLastDayMs: 3.8 * H }).reason).toMatch(/compute budget/);
    expect(decideRetrain(DEFAULT_RETRAIN_POLICY, { ...base, runningRuns: 1 }).reason).toMatch(/in progress/);
  });
  it('waits while paused and says why', () => {
    const d = decideRetrain(DEFAULT_RETRAIN_POLICY, { ...base, paused: { paused: true, reason: 'holiday freeze' } });
    expect(d).toEqual({ action: 'wait', reason: 'automatic retraining is paused: holiday freeze' });
  });
});
