import { effectiveAdaptation, type EffectiveAdaptation } from './adaptation-settings';

/**
 * When the cloud retrains on its own. Pure: the controller feeds it the facts and records the
 * decision with its reason. Modelled on Sedna's triggers (a persistence condition, a time budget)
 * plus what Sedna lacks: a cool-down after each run and a compute budget per rolling day.
 */
export interface RetrainPolicy {
  /** A cohort alarm must have been open this long (persistence at fleet level). */
  minAlarmDurationMs: number;
  /** Minimum time between the start of two runs for the same cohort and model. */
  cooldownMs: number;
  /** Compute (wall-clock ms of pipeline steps) allowed per rolling 24 h, all cohorts together. */
  computeBudgetMsPerDay: number;
  /** Estimated cost of one run, checked against what is left of the budget. */
  estimatedRunMs: number;
  /** Runs at the same time (all cohorts). */
  maxConcurrentRuns: number;
  /**
   * How a run adapts the student (adaptation-settings.ts), every field in force; not part of the
   * decision: the controller hands it to each run it starts.
   */
  adaptation: EffectiveAdaptation;
}

export const DEFAULT_RETRAIN_POLICY: RetrainPolicy = {
  minAlarmDurationMs: 15 * 60_000,
  cooldownMs: 6 * 3_600_000,
  computeBudgetMsPerDay: 4 * 3_600_000,
  estimatedRunMs: 30 * 60_000,
  maxConcurrentRuns: 1,
  adaptation: effectiveAdaptation(undefined),
};

export interface RetrainFacts {
  now: number;
  paused: { paused: boolean; reason?: string };
  /** The open cohort alarm, if any. */
  alarm: { id: string; openedAt: number; discoveries: number; devices: number } | null;
  /** Start time of the latest run for this cohort and model, any outcome. */
  lastRunStartedAt: number | null;
  /** Compute spent by runs that started in the last 24 h. */
  computeUsedLastDayMs: number;
  runningRuns: number;
}

export type RetrainDecision = { action: 'start'; reason: string } | { action: 'wait'; reason: string } | { action: 'none'; reason: string };

export function decideRetrain(p: RetrainPolicy, f: RetrainFacts): RetrainDecision {
  if (!f.alarm) return { action: 'none', reason: 'no open cohort drift alarm' };
  if (f.paused.paused) return { action: 'wait', reason: `automatic retraining is paused${f.paused.reason ? `: ${f.paused.reason}` : ''}` };
  const open = f.now - f.alarm.openedAt;
  if (open < p.minAlarmDurationMs) {
    return { action: 'wait', reason: `alarm open ${fmt(open)}, needs ${fmt(p.minAlarmDurationMs)} before a retrain` };
  }
  if (f.lastRunStartedAt !== null && f.now - f.lastRunStartedAt < p.cooldownMs) {
    return { action: 'wait', reason: `cool-down: last run started ${fmt(f.now - f.lastRunStartedAt)} ago, cool-down is ${fmt(p.cooldownMs)}` };
  }
  if (f.runningRuns >= p.maxConcurrentRuns) return { action: 'wait', reason: `${f.runningRuns} run(s) already in progress (max ${p.maxConcurrentRuns})` };
  const left = p.computeBudgetMsPerDay - f.computeUsedLastDayMs;
  if (left < p.estimatedRunMs) {
    return { action: 'wait', reason: `compute budget: ${fmt(Math.max(0, left))} left of ${fmt(p.computeBudgetMsPerDay)} per day, a run needs about ${fmt(p.estimatedRunMs)}` };
  }
  return {
    action: 'start',
    reason: `cohort drift alarm open ${fmt(open)} with ${f.alarm.discoveries} of ${f.alarm.devices} devices drifted; cool-down and budget allow a run`,
  };
}

function fmt(ms: number): string {
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 1000).toFixed(0)} s`;
}
