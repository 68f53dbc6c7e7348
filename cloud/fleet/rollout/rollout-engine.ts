import type { ErrorCode } from '../../../shared/errors';
import { evaluateGates, type GateVerdict, type HealthSample } from './gates';
import { planWaves } from './plan-waves';
import type { RolloutSpec } from './rollout-spec';

/**
 * The rollout engine: a state machine with events in and commands out, no I/O and no clock of
 * its own (`now` comes with every call). `applyEvent` mutates the state it is given (a rollout
 * of 5,000 devices would otherwise be copied on every report) and returns the commands the
 * driver must carry out. The state is plain JSON, so the driver persists it as it is and a
 * restarted cloud continues from the last snapshot plus the reports received after it.
 *
 * Device states (cloud's view of one device in one rollout):
 *   queued → offered → in_progress(step) → committed
 *                    ↘ failed | rejected | timed_out
 *   (rollback)  in_progress | committed → rolling_back → rolled_back | rollback_failed
 *   (stopped)   queued → skipped, offered → canceled
 * Every non-terminal state has a timeout (offered, each step, rolling_back): silence is a
 * failure, never a rollout stuck in progress.
 *
 * Rollout states:
 *   created → running ⇄ paused → completed
 *   running | paused → rolling_back → rolled_back | aborted | failed (a rollback not confirmed)
 */
export type DeviceRolloutState =
  | 'queued'
  | 'offered'
  | 'in_progress'
  | 'committed'
  | 'failed'
  | 'rejected'
  | 'timed_out'
  | 'canceled'
  | 'skipped'
  | 'rolling_back'
  | 'rolled_back'
  | 'rollback_failed';

export type RolloutStatus = 'created' | 'running' | 'paused' | 'rolling_back' | 'completed' | 'rolled_back' | 'aborted' | 'failed';

export const TERMINAL_ROLLOUT: readonly RolloutStatus[] = ['completed', 'rolled_back', 'aborted', 'failed'];

export interface DeviceExecution {
  wave: number;
  state: DeviceRolloutState;
  /** The agent step last reported (downloading, verifying, warming, baking, …). */
  step?: string;
  /** When the current state (or step) began: the timeout counts from here. */
  since: number;
  /** When the device was offered the package, and when it finished (for per-device latency). */
  offeredAt?: number;
  finishedAt?: number;
  errorCode?: ErrorCode;
  health?: HealthSample;
}

export type WavePhase = 'pending' | 'deploying' | 'baking' | 'passed' | 'failed';

export interface WaveState {
  index: number;
  deviceIds: string[];
  phase: WavePhase;
  startedAt?: number;
  bakeUntil?: number;
  verdict?: GateVerdict;
}

export type RollbackReason = 'gate' | 'abort-threshold' | 'abort';

export interface RolloutState {
  id: string;
  spec: RolloutSpec;
  status: RolloutStatus;
  createdAt: number;
  updatedAt: number;
  currentWave: number;
  waves: WaveState[];
  devices: Record<string, DeviceExecution>;
  rollbackReason?: RollbackReason;
  /** Human-readable cause of a stop (gate results, abort message). */
  reason?: string;
}

export type EngineEvent =
  | { type: 'start' }
  /** `health` (e.g. shadow metrics reported on the way) is merged into what the device reported so far. */
  | { type: 'progress'; deviceId: string; step: string; health?: Partial<HealthSample> }
  | { type: 'outcome'; deviceId: string; outcome: 'committed' | 'failed' | 'rejected' | 'rolled_back'; errorCode?: ErrorCode; health?: HealthSample }
  | { type: 'health'; deviceId: string; health: HealthSample }
  | { type: 'tick' }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'abort'; reason?: string };

export type RolloutNotice =
  | { kind: 'rollout-status'; status: RolloutStatus; reason?: string }
  | { kind: 'wave-started'; wave: number; devices: number }
  | { kind: 'wave-baking'; wave: number; until: number }
  | { kind: 'wave-passed'; wave: number; verdict: GateVerdict }
  | { kind: 'wave-failed'; wave: number; verdict: GateVerdict }
  | { kind: 'abort-threshold'; failures: number; executed: number; thresholdPercent: number }
  | { kind: 'device-state'; deviceId: string; state: DeviceRolloutState; step?: string; errorCode?: ErrorCode };

export type EngineCommand =
  | { type: 'offer'; deviceId: string; wave: number }
  /** Stop working on the offer; nothing was activated yet (or, if it was, restore the previous model). */
  | { type: 'cancel'; deviceId: string }
  /** Restore the model that ran before this rollout. */
  | { type: 'rollback'; deviceId: string }
  | { type: 'notify'; notice: RolloutNotice };

const TERMINAL_DEVICE: ReadonlySet<DeviceRolloutState> = new Set([
  'committed', 'failed', 'rejected', 'timed_out', 'canceled', 'skipped', 'rolled_back', 'rollback_failed',
]);
const FAILURE: ReadonlySet<DeviceRolloutState> = new Set(['failed', 'rejected', 'timed_out']);

/** Builds the initial state. `deviceIds` is the resolved target; it is sorted so the plan is reproducible. */
export function createRolloutState(id: string, spec: RolloutSpec, deviceIds: readonly string[], now: number): RolloutState {
  const sorted = [...new Set(deviceIds)].sort();
  const plan = planWaves(sorted, spec.waves);
  const devices: Record<string, DeviceExecution> = {};
  plan.forEach((ids, wave) => ids.forEach((d) => (devices[d] = { wave, state: 'queued', since: now })));
  return {
    id,
    spec,
    status: 'created',
    createdAt: now,
    updatedAt: now,
    currentWave: 0,
    waves: plan.map((deviceIds, index) => ({ index, deviceIds, phase: 'pending' })),
    devices,
  };
}

export function isTerminal(status: RolloutStatus): boolean {
  return TERMINAL_ROLLOUT.includes(status);
}

export function isDeviceTerminal(state: DeviceRolloutState): boolean {
  return TERMINAL_DEVICE.has(state);
}

/** Applies one event at time `now`; mutates `s` and returns the commands to execute, in order. */
export function applyEvent(s: RolloutState, event: EngineEvent, now: number): EngineCommand[] {
  const out: EngineCommand[] = [];
  const ctx: Ctx = { s, now, out };
  if (isTerminal(s.status)) return out; // a finished rollout ignores everything (late reports included)
  switch (event.type) {
    case 'start':
      if (s.status !== 'created') break;
      setStatus(ctx, 'running');
      if (s.waves.length === 0) setStatus(ctx, 'completed', 'no devices matched the target');
      else startWave(ctx, 0);
      break;
    case 'progress':
      onProgress(ctx, event.deviceId, event.step, event.health);
      break;
    case 'outcome':
      onOutcome(ctx, event.deviceId, event.outcome, event.errorCode, event.health);
      break;
    case 'health': {
      const d = s.devices[event.deviceId];
      if (d && d.state === 'committed') mergeHealth(d, event.health);
      break;
    }
    case 'tick':
      checkTimeouts(ctx);
      break;
    case 'pause':
      if (s.status === 'running') setStatus(ctx, 'paused');
      break;
    case 'resume':
      if (s.status === 'paused') setStatus(ctx, 'running');
      break;
    case 'abort':
      if (s.status === 'created') setStatus(ctx, 'aborted', event.reason ?? 'aborted before start');
      else startRollback(ctx, 'abort', event.reason ?? 'aborted by operator');
      break;
  }
  advance(ctx);
  s.updatedAt = now;
  return out;
}

interface Ctx {
  s: RolloutState;
  now: number;
  out: EngineCommand[];
}

function setStatus(ctx: Ctx, status: RolloutStatus, reason?: string): void {
  ctx.s.status = status;
  if (reason !== undefined) ctx.s.reason = reason;
  ctx.out.push({ type: 'notify', notice: reason === undefined ? { kind: 'rollout-status', status } : { kind: 'rollout-status', status, reason } });
}

/**
 * Failures and executed devices per rollout state object, kept current by setDevice (the only
 * place a device's state changes). The abort check runs after every outcome: counting all devices
 * each time made a 1,000-device wave quadratic. A state loaded from the store starts a new tally.
 */
const tallies = new WeakMap<RolloutState, { failures: number; executed: number }>();

function tally(s: RolloutState): { failures: number; executed: number } {
  let t = tallies.get(s);
  if (!t) {
    t = { failures: 0, executed: 0 };
    for (const d of Object.values(s.devices)) countDevice(t, d.state, 1);
    tallies.set(s, t);
  }
  return t;
}

function countDevice(t: { failures: number; executed: number }, state: DeviceRolloutState, sign: 1 | -1): void {
  if (FAILURE.has(state)) t.failures += sign;
  if (FAILURE.has(state) || state === 'committed') t.executed += sign;
}

function setDevice(ctx: Ctx, deviceId: string, d: DeviceExecution, state: DeviceRolloutState, extra: { step?: string; errorCode?: ErrorCode } = {}): void {
  const t = tallies.get(ctx.s);
  if (t) {
    countDevice(t, d.state, -1);
    countDevice(t, state, 1);
  }
  d.state = state;
  d.since = ctx.now;
  if (extra.step !== undefined) d.step = extra.step;
  if (extra.errorCode !== undefined) d.errorCode = extra.errorCode;
  if (isDeviceTerminal(state) && d.finishedAt === undefined && state !== 'skipped') d.finishedAt = ctx.now;
  const notice: RolloutNotice = { kind: 'device-state', deviceId, state };
  if (d.step !== undefined) notice.step = d.step;
  if (d.errorCode !== undefined) notice.errorCode = d.errorCode;
  ctx.out.push({ type: 'notify', notice });
}

function startWave(ctx: Ctx, index: number): void {
  const w = ctx.s.waves[index]!;
  ctx.s.currentWave = index;
  w.phase = 'deploying';
  w.startedAt = ctx.now;
  ctx.out.push({ type: 'notify', notice: { kind: 'wave-started', wave: index, devices: w.deviceIds.length } });
  for (const id of w.deviceIds) {
    const d = ctx.s.devices[id]!;
    d.offeredAt = ctx.now;
    setDevice(ctx, id, d, 'offered');
    ctx.out.push({ type: 'offer', deviceId: id, wave: index });
  }
}

function mergeHealth(d: DeviceExecution, h: Partial<HealthSample> | undefined): void {
  if (!h) return;
  d.health = { inferences: 0, errors: 0, ...d.health, ...h };
}

function onProgress(ctx: Ctx, deviceId: string, step: string, health?: Partial<HealthSample>): void {
  const d = ctx.s.devices[deviceId];
  if (!d) return;
  if (d.state === 'offered' || d.state === 'in_progress') {
    mergeHealth(d, health);
    // A repeated step still resets the timer: the device is alive and working on it.
    setDevice(ctx, deviceId, d, 'in_progress', { step });
  } else if (d.state === 'rolling_back') {
    d.step = step; // keep the rollback timeout: a rollback must finish, not just progress
  }
}

function onOutcome(ctx: Ctx, deviceId: string, outcome: 'committed' | 'failed' | 'rejected' | 'rolled_back', errorCode?: ErrorCode, health?: HealthSample): void {
  const d = ctx.s.devices[deviceId];
  if (!d) return;
  const extra = errorCode === undefined ? {} : { errorCode };
  if (d.state === 'offered' || d.state === 'in_progress') {
    mergeHealth(d, health);
    if (outcome === 'committed') setDevice(ctx, deviceId, d, 'committed', extra);
    else if (outcome === 'rejected') setDevice(ctx, deviceId, d, 'rejected', extra);
    // The agent rolled itself back (its own bake check failed): a failure of this device.
    else setDevice(ctx, deviceId, d, 'failed', outcome === 'rolled_back' ? { errorCode: errorCode ?? 'EDGEKD_GATE_FAILED' } : extra);
    checkAbortThreshold(ctx);
  } else if (d.state === 'rolling_back') {
    // A device answers a rollback with `rolled_back`, or with `failed`/`rejected` when the
    // deployment had not activated anything (protocol invariant: failed = the previous model
    // serves). Both mean the previous model serves again. `committed` here is an install that
    // raced the rollback command; the command is still on its way, so keep waiting.
    if (outcome !== 'committed') setDevice(ctx, deviceId, d, 'rolled_back', extra);
  } else if (d.state === 'committed') {
    mergeHealth(d, health);
  }
}

function checkTimeouts(ctx: Ctx): void {
  const t = ctx.s.spec.timeouts;
  for (const [id, d] of Object.entries(ctx.s.devices)) {
    if (d.state === 'offered' && ctx.now - d.since >= t.offeredMs) {
      setDevice(ctx, id, d, 'timed_out', { errorCode: 'EDGEKD_STEP_TIMEOUT' });
      ctx.out.push({ type: 'cancel', deviceId: id });
    } else if (d.state === 'in_progress' && ctx.now - d.since >= t.stepMs) {
      setDevice(ctx, id, d, 'timed_out', { errorCode: 'EDGEKD_STEP_TIMEOUT' });
      ctx.out.push({ type: 'cancel', deviceId: id });
    } else if (d.state === 'rolling_back' && ctx.now - d.since >= t.rollbackMs) {
      setDevice(ctx, id, d, 'rollback_failed', { errorCode: 'EDGEKD_STEP_TIMEOUT' });
    }
  }
  checkAbortThreshold(ctx);
}

/** Counts over the whole rollout: executed = finished either way; failures = failed, rejected, timed out. */
export function rolloutCounts(s: RolloutState): Record<DeviceRolloutState, number> {
  const c = Object.fromEntries(
    (['queued', 'offered', 'in_progress', 'committed', 'failed', 'rejected', 'timed_out', 'canceled', 'skipped', 'rolling_back', 'rolled_back', 'rollback_failed'] as const).map((k) => [k, 0]),
  ) as Record<DeviceRolloutState, number>;
  for (const d of Object.values(s.devices)) c[d.state]++;
  return c;
}

function checkAbortThreshold(ctx: Ctx): void {
  const s = ctx.s;
  if (s.status !== 'running' && s.status !== 'paused') return;
  const { failures, executed } = tally(s);
  const g = s.spec.gates;
  if (executed >= g.minExecutedForAbort && (100 * failures) / executed > g.abortFailurePercent) {
    ctx.out.push({ type: 'notify', notice: { kind: 'abort-threshold', failures, executed, thresholdPercent: g.abortFailurePercent } });
    startRollback(ctx, 'abort-threshold', `${failures} of ${executed} devices failed (> ${g.abortFailurePercent}%)`);
  }
}

function startRollback(ctx: Ctx, reason: RollbackReason, message: string): void {
  const s = ctx.s;
  if (s.status === 'rolling_back') return;
  s.rollbackReason = reason;
  setStatus(ctx, 'rolling_back', message);
  const scopeWaves = s.spec.rollbackScope === 'wave' && reason !== 'abort' ? new Set([s.currentWave]) : null;
  for (const [id, d] of Object.entries(s.devices)) {
    if (d.state === 'queued') setDevice(ctx, id, d, 'skipped');
    else if (d.state === 'offered') {
      setDevice(ctx, id, d, 'canceled');
      ctx.out.push({ type: 'cancel', deviceId: id });
    } else if (d.state === 'in_progress' || (d.state === 'committed' && (scopeWaves === null || scopeWaves.has(d.wave)))) {
      setDevice(ctx, id, d, 'rolling_back');
      ctx.out.push({ type: 'rollback', deviceId: id });
    }
  }
  for (const w of s.waves) if (w.phase === 'pending') w.phase = 'failed';
}

/** Moves waves and the rollout forward after any event; idempotent. */
function advance(ctx: Ctx): void {
  const s = ctx.s;
  if (s.status === 'rolling_back') {
    const pending = Object.values(s.devices).some((d) => d.state === 'rolling_back');
    if (!pending) {
      const unconfirmed = Object.values(s.devices).some((d) => d.state === 'rollback_failed');
      if (s.rollbackReason === 'abort') setStatus(ctx, 'aborted', s.reason);
      else if (unconfirmed) setStatus(ctx, 'failed', `${s.reason}; some devices did not confirm the rollback`);
      else setStatus(ctx, 'rolled_back', s.reason);
    }
    return;
  }
  if (s.status !== 'running' && s.status !== 'paused') return;
  const w = s.waves[s.currentWave];
  if (!w) return;
  if (w.phase === 'deploying' && w.deviceIds.every((id) => isDeviceTerminal(s.devices[id]!.state))) {
    w.phase = 'baking';
    w.bakeUntil = ctx.now + s.spec.bakeMs;
    ctx.out.push({ type: 'notify', notice: { kind: 'wave-baking', wave: w.index, until: w.bakeUntil } });
  }
  if (w.phase === 'baking' && ctx.now >= (w.bakeUntil ?? 0)) {
    const devs = w.deviceIds.map((id) => s.devices[id]!);
    const committed = devs.filter((d) => d.state === 'committed');
    const verdict = evaluateGates(
      s.spec.gates,
      { size: devs.length, committed: committed.length, failed: devs.filter((d) => FAILURE.has(d.state)).length },
      committed.flatMap((d) => (d.health ? [d.health] : [])),
    );
    w.verdict = verdict;
    if (verdict.passed) {
      w.phase = 'passed';
      ctx.out.push({ type: 'notify', notice: { kind: 'wave-passed', wave: w.index, verdict } });
    } else {
      w.phase = 'failed';
      ctx.out.push({ type: 'notify', notice: { kind: 'wave-failed', wave: w.index, verdict } });
      const failedGates = verdict.results.filter((r) => r.outcome !== 'pass').map((r) => `${r.gate}=${r.value ?? 'no data'} (limit ${r.threshold})`);
      startRollback(ctx, 'gate', `wave ${w.index} failed its gates: ${failedGates.join(', ')}`);
      advance(ctx);
      return;
    }
  }
  if (w.phase === 'passed' && s.status === 'running') {
    if (s.currentWave + 1 < s.waves.length) startWave(ctx, s.currentWave + 1);
    else setStatus(ctx, 'completed');
    // A wave whose devices all finished at once (e.g. all already at the target version) bakes from now.
    if (s.status === 'running') advance(ctx);
  }
}

/** The earliest time at which a `tick` can change something (a timeout or the end of a bake). */
export function nextDeadline(s: RolloutState): number | null {
  if (isTerminal(s.status) || s.status === 'created') return null;
  let t = Infinity;
  const to = s.spec.timeouts;
  for (const d of Object.values(s.devices)) {
    if (d.state === 'offered') t = Math.min(t, d.since + to.offeredMs);
    else if (d.state === 'in_progress') t = Math.min(t, d.since + to.stepMs);
    else if (d.state === 'rolling_back') t = Math.min(t, d.since + to.rollbackMs);
  }
  const w = s.waves[s.currentWave];
  if (w?.phase === 'baking' && w.bakeUntil !== undefined) t = Math.min(t, w.bakeUntil);
  return Number.isFinite(t) ? t : null;
}
