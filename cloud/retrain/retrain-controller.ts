import { migratedOnFirstUse } from '../store/sql-db';
import { retrainMigrations } from './migrations';
import { randomUUID } from 'node:crypto';
import type { SqlDb } from '../store/sql-db';
import { createLogger, type Logger } from '../../shared/log/logger';
import { EdgekdError, toEdgekdError } from '../../shared/errors';
import type { DriftService, CohortAlarm } from '../drift/drift-service';
import { decideRetrain, DEFAULT_RETRAIN_POLICY, type RetrainDecision, type RetrainPolicy } from './policy';
import { parseRetrainPolicyChanges, type RetrainPolicyChanges } from './policy-changes';
import { effectiveAdaptation, type EffectiveAdaptation } from './adaptation-settings';
import type { PackageRef, RetrainContext, RetrainSteps } from './steps';
import { fencedWrite } from '../scale/fenced-write';
import type { Fence } from '../scale/leader-lease';

/**
 * `interrupted`: the run was in flight in a process that stopped leading (killed, paused past its
 * lease, restarted) and was ended by the next controller; like `cancelled` it does not start the
 * cool-down, so the alarm that triggered it starts a new run at once when the policy allows.
 */
export type RunState = 'distilling' | 'packaging' | 'rolling-out' | 'promoted' | 'rolled-back' | 'failed' | 'cancelled' | 'interrupted';

const IN_FLIGHT_STATES = ['distilling', 'packaging', 'rolling-out'] as const;

export interface StepRecord {
  name: 'distill' | 'package' | 'rollout';
  startedAt: number;
  finishedAt: number | null;
  ms: number;
  summary?: Record<string, unknown>;
  error?: string;
}

export interface RetrainRun {
  id: string;
  cohort: string;
  modelName: string;
  modelVersion: string;
  cohortAlarmId: string | null;
  state: RunState;
  startedAt: number;
  finishedAt: number | null;
  computeMs: number;
  triggerReports: string[];
  steps: StepRecord[];
  packageRef: PackageRef | null;
  outcome: string | null;
  error: string | null;
}

export interface RetrainControllerDeps {
  db: SqlDb;
  clock: () => number;
  drift: DriftService;
  steps: RetrainSteps;
  policy?: Partial<RetrainPolicy>;
  logger?: Logger;
  newId?: () => string;
  /**
   * The fleet leader's lease (cloud/scale): a run starts only in a fenced write, so a leader that
   * lost its lease (paused, partitioned) starts none (EDGEKD_FENCED) and the concurrency limit,
   * counted by the one leader, holds across processes.
   */
  fence?: Fence;
}

export interface RetrainController {
  /** Evaluates the fleet, applies the policy per open cohort alarm and starts runs (not awaited). */
  tick(): Promise<Array<{ cohort: string; modelName: string; decision: RetrainDecision; runId?: string }>>;
  /** Resolves when every run started by this controller has ended. */
  idle(): Promise<void>;
  pause(reason: string, actor: string): Promise<void>;
  resume(reason: string, actor: string): Promise<void>;
  paused(): Promise<{ paused: boolean; reason?: string; actor?: string; at?: number }>;
  /** The policy in force (defaults ← constructor options ← last `setPolicy`), `adaptation` with every field filled. */
  getPolicy(): Promise<RetrainPolicy>;
  /**
   * Changes policy fields (validated against `RetrainPolicyChanges`, persisted, logged with the
   * actor; a change that fails validation stores nothing). `adaptation` is replaced as a whole;
   * the next run started uses it.
   */
  setPolicy(changes: RetrainPolicyChanges, actor: string): Promise<RetrainPolicy>;
  runs(limit?: number): Promise<RetrainRun[]>;
  run(id: string): Promise<RetrainRun | null>;
  /** Which reports triggered a run and which package it produced. */
  lineage(runId: string): Promise<{ run: RetrainRun; reports: Array<{ id: string; deviceId: string; receivedAt: number }>; package: PackageRef | null } | null>;
}

const SCOPE = 'retrain';
const DAY_MS = 86_400_000;

/**
 * The automatic retrain loop: fleet verdict → policy → pipeline (re-distil, package, canary) →
 * promote or roll back, with no human in between. Every decision that changes something, and every
 * pause/resume, is written to the drift action log with its reason; runs and their lineage
 * (trigger reports → run → package) are persisted.
 */
export function createRetrainController(deps: RetrainControllerDeps): RetrainController {
  const { clock, drift, steps } = deps;
  // The controller's own tables (runs, pause switch, policy) are created on its first statement.
  const db = migratedOnFirstUse(deps.db, retrainMigrations);
  const basePolicy: RetrainPolicy = { ...DEFAULT_RETRAIN_POLICY, ...deps.policy };

  /** What operators changed, as stored (a policy stored before a field existed lacks it: the field keeps its default). */
  async function storedChanges(): Promise<RetrainPolicyChanges> {
    const rows = await db.query('SELECT policy FROM drift_retrain_policy WHERE scope = ?', [SCOPE]);
    return rows[0] ? (JSON.parse(String(rows[0].policy)) as RetrainPolicyChanges) : {};
  }
  async function currentPolicy(): Promise<RetrainPolicy> {
    const stored = await storedChanges();
    // The stored adaptation holds only what the operator set, so the rest follows the defaults of
    // this version (adaptation-settings.ts), and it is filled here for the API and the run.
    return { ...basePolicy, ...stored, adaptation: stored.adaptation ? effectiveAdaptation(stored.adaptation) : basePolicy.adaptation };
  }
  const log = deps.logger ?? createLogger('retrain');
  const newId = deps.newId ?? randomUUID;
  const inFlight = new Map<string, { promise: Promise<void>; abort: AbortController }>();
  const lastReason = new Map<string, string>();

  const toRun = (r: Record<string, unknown>): RetrainRun => ({
    id: String(r.id),
    cohort: String(r.cohort),
    modelName: String(r.model_name),
    modelVersion: String(r.model_version),
    cohortAlarmId: r.cohort_alarm_id === null || r.cohort_alarm_id === undefined ? null : String(r.cohort_alarm_id),
    state: String(r.state) as RunState,
    startedAt: Number(r.started_at),
    finishedAt: r.finished_at === null || r.finished_at === undefined ? null : Number(r.finished_at),
    computeMs: Number(r.compute_ms),
    triggerReports: JSON.parse(String(r.trigger_reports)) as string[],
    steps: JSON.parse(String(r.steps)) as StepRecord[],
    packageRef: r.package_ref ? (JSON.parse(String(r.package_ref)) as PackageRef) : null,
    outcome: r.outcome === null || r.outcome === undefined ? null : String(r.outcome),
    error: r.error === null || r.error === undefined ? null : String(r.error),
  });

  async function pausedState(): Promise<{ paused: boolean; reason?: string; actor?: string; at?: number }> {
    const rows = await db.query('SELECT * FROM drift_controls WHERE scope = ?', [SCOPE]);
    const r = rows[0];
    if (!r) return { paused: false };
    return { paused: Number(r.paused) === 1, reason: String(r.reason), actor: String(r.actor), at: Number(r.updated_at) };
  }

  async function setPaused(paused: boolean, reason: string, actor: string): Promise<void> {
    if (!reason.trim()) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'pausing or resuming needs a reason');
    await db.exec(
      `INSERT INTO drift_controls (scope, paused, reason, actor, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (scope) DO UPDATE SET paused = excluded.paused, reason = excluded.reason, actor = excluded.actor, updated_at = excluded.updated_at`,
      [SCOPE, paused ? 1 : 0, reason, actor, clock()],
    );
    await drift.recordAction({ actor, kind: paused ? 'retrain-paused' : 'retrain-resumed', reason, details: { inFlight: [...inFlight.keys()] } });
    if (paused) for (const f of inFlight.values()) f.abort.abort(new EdgekdError('EDGEKD_RUN_CANCELLED', `paused: ${reason}`));
  }

  async function saveRun(r: RetrainRun): Promise<void> {
    // Fenced like the start: a leader that lost its lease cannot overwrite what its successor
    // recorded for this run (interrupted) when it wakes up.
    const write = (tx: SqlDb): Promise<unknown> => tx.exec(
      `UPDATE drift_retrain_runs SET state = ?, finished_at = ?, compute_ms = ?, steps = ?, package_ref = ?, outcome = ?, error = ? WHERE id = ?`,
      [r.state, r.finishedAt, r.computeMs, JSON.stringify(r.steps), r.packageRef ? JSON.stringify(r.packageRef) : null, r.outcome, r.error, r.id],
    );
    await (deps.fence ? fencedWrite(db, deps.fence, write) : write(db));
  }

  /**
   * Runs left in flight by a previous controller: every run in an in-flight state that this one
   * did not start (on its first tick nothing runs here, so that is all of them). Their process is
   * gone or no longer leads (its writes are fenced off), so they can never finish; each becomes
   * `interrupted` in one conditional, fenced write, with an action saying why. The alarm that
   * triggered it is still open, so the policy starts a new run for it (no cool-down).
   */
  let recovered = false;
  async function interruptOrphans(): Promise<void> {
    const orphans = (await db.query(`SELECT * FROM drift_retrain_runs WHERE state IN (${IN_FLIGHT_STATES.map(() => '?').join(', ')}) ORDER BY started_at`, [...IN_FLIGHT_STATES]))
      .map(toRun)
      .filter((r) => !inFlight.has(r.id));
    for (const run of orphans) {
      const error = `EDGEKD_RUN_CANCELLED: interrupted in step ${run.state}: the process running it stopped leading the fleet; a new run replaces it`;
      const write = (tx: SqlDb): Promise<number> => tx.exec(
        `UPDATE drift_retrain_runs SET state = 'interrupted', finished_at = ?, error = ? WHERE id = ? AND state = ?`,
        [clock(), error, run.id, run.state],
      );
      if ((await (deps.fence ? fencedWrite(db, deps.fence, write) : write(db))) !== 1) continue;
      await drift.recordAction({ actor: 'auto', kind: 'retrain-interrupted', reason: error, details: { runId: run.id, cohort: run.cohort, model: `${run.modelName}@${run.modelVersion}`, steps: run.steps.map((x) => x.name) } });
      await steps.abandon?.(run.id).catch((err: unknown) => log.warn({ err, runId: run.id }, 'could not stop the work of an interrupted run'));
    }
  }

  async function execute(run: RetrainRun, ctx: RetrainContext): Promise<void> {
    const step = async <T extends { summary: Record<string, unknown> }>(name: StepRecord['name'], state: RunState, fn: () => Promise<T>): Promise<T> => {
      if (ctx.signal.aborted) throw ctx.signal.reason ?? new EdgekdError('EDGEKD_RUN_CANCELLED', 'cancelled');
      const rec: StepRecord = { name, startedAt: clock(), finishedAt: null, ms: 0 };
      run.steps.push(rec);
      run.state = state;
      await saveRun(run);
      try {
        const out = await fn();
        rec.summary = out.summary;
        return out;
      } catch (e) {
        rec.error = toEdgekdError(e).message;
        throw e;
      } finally {
        rec.finishedAt = clock();
        rec.ms = rec.finishedAt - rec.startedAt;
        run.computeMs += rec.ms;
        await saveRun(run);
      }
    };
    try {
      const d = await step('distill', 'distilling', () => steps.distill(ctx));
      const p = await step('package', 'packaging', () => steps.package(ctx, d));
      run.packageRef = p.package;
      const r = await step('rollout', 'rolling-out', () => steps.rollout(ctx, p));
      run.state = r.outcome;
      run.outcome = r.outcome;
      run.finishedAt = clock();
      await saveRun(run);
      await drift.recordAction({
        actor: 'auto',
        kind: r.outcome === 'promoted' ? 'retrain-promoted' : 'retrain-rolled-back',
        reason: r.outcome === 'promoted' ? `package ${p.package.name} v${p.package.version} passed the canary gates and was promoted` : `package ${p.package.name} v${p.package.version} failed the canary gates and was rolled back`,
        details: { runId: run.id, package: p.package, rolloutId: r.rolloutId, summary: r.summary },
      });
    } catch (e) {
      const err = toEdgekdError(e);
      run.state = err.code === 'EDGEKD_RUN_CANCELLED' ? 'cancelled' : 'failed';
      run.error = `${err.code}: ${err.message}`;
      run.finishedAt = clock();
      await saveRun(run);
      await drift.recordAction({ actor: 'auto', kind: run.state === 'cancelled' ? 'retrain-cancelled' : 'retrain-failed', reason: run.error, details: { runId: run.id, steps: run.steps.map((s) => s.name) } });
    }
  }

  async function start(alarm: CohortAlarm, decision: RetrainDecision, adaptation: EffectiveAdaptation): Promise<string> {
    const id = newId();
    const triggerReports = alarm.evidence.slice();
    const featureTargets = await drift.fieldFeatureTargets(triggerReports);
    const layerSketches = await drift.fieldLayerSketches(triggerReports);
    const inputShift = await drift.fieldInputShift(triggerReports);
    const run: RetrainRun = {
      id,
      cohort: alarm.cohort,
      modelName: alarm.modelName,
      modelVersion: alarm.modelVersion,
      cohortAlarmId: alarm.id,
      state: 'distilling',
      startedAt: clock(),
      finishedAt: null,
      computeMs: 0,
      triggerReports,
      steps: [],
      packageRef: null,
      outcome: null,
      error: null,
    };
    const insert = (tx: SqlDb): Promise<unknown> => tx.exec(
      `INSERT INTO drift_retrain_runs (id, cohort, model_name, model_version, cohort_alarm_id, state, started_at, finished_at, compute_ms, trigger_reports, steps, package_ref, outcome, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0, ?, '[]', NULL, NULL, NULL)`,
      [id, run.cohort, run.modelName, run.modelVersion, run.cohortAlarmId, run.state, run.startedAt, JSON.stringify(triggerReports)],
    );
    await (deps.fence ? fencedWrite(db, deps.fence, insert) : insert(db));
    await drift.recordAction({ actor: 'auto', kind: 'retrain-started', reason: decision.reason, details: { runId: id, cohort: run.cohort, model: `${run.modelName}@${run.modelVersion}`, triggerReports, featureTargets: featureTargets.map((f) => f.layer), layerSketches: layerSketches.map((l) => `${l.layer} (n ${l.sampleCount})`), inputStatistics: inputShift ? `field n ${inputShift.field.sampleCount}, baseline n ${inputShift.baseline.sampleCount}` : 'none', adaptation } });
    const abort = new AbortController();
    const ctx: RetrainContext = { runId: id, cohort: run.cohort, model: { name: run.modelName, version: run.modelVersion }, triggerReports, featureTargets, layerSketches, inputShift, adaptation, signal: abort.signal };
    const promise = execute(run, ctx)
      .catch((e) => log.error({ err: e, runId: id }, 'retrain run crashed'))
      .finally(() => inFlight.delete(id));
    inFlight.set(id, { promise, abort });
    return id;
  }

  return {
    async tick() {
      if (!recovered) {
        await interruptOrphans();
        recovered = true;
      }
      const policy = await currentPolicy();
      await drift.evaluate();
      const alarms = await drift.cohortAlarms({ openOnly: true });
      const out: Array<{ cohort: string; modelName: string; decision: RetrainDecision; runId?: string }> = [];
      const now = clock();
      const paused = await pausedState();
      const used = await db.query<{ total: number | null }>('SELECT SUM(compute_ms) AS total FROM drift_retrain_runs WHERE started_at >= ?', [now - DAY_MS]);
      let computeUsed = Number(used[0]?.total ?? 0);
      for (const alarm of alarms) {
        const last = await db.query<{ started_at: number }>(
          "SELECT started_at FROM drift_retrain_runs WHERE cohort = ? AND model_name = ? AND state NOT IN ('cancelled', 'interrupted') ORDER BY started_at DESC LIMIT 1",
          [alarm.cohort, alarm.modelName],
        );
        const decision = decideRetrain(policy, {
          now,
          paused,
          alarm: { id: alarm.id, openedAt: alarm.openedAt, discoveries: alarm.lastVerdict.discoveries.length, devices: alarm.lastVerdict.devices },
          lastRunStartedAt: last[0] ? Number(last[0].started_at) : null,
          computeUsedLastDayMs: computeUsed,
          runningRuns: inFlight.size,
        });
        const key = `${alarm.cohort}\u0000${alarm.modelName}`;
        const entry: { cohort: string; modelName: string; decision: RetrainDecision; runId?: string } = { cohort: alarm.cohort, modelName: alarm.modelName, decision };
        if (decision.action === 'start') {
          entry.runId = await start(alarm, decision, policy.adaptation);
          computeUsed += policy.estimatedRunMs;
          lastReason.delete(key);
        } else if (lastReason.get(key) !== decision.reason) {
          // Waiting is logged once per distinct reason, not on every tick.
          lastReason.set(key, decision.reason);
          await drift.recordAction({ actor: 'auto', kind: 'retrain-deferred', reason: decision.reason, details: { cohort: alarm.cohort, model: alarm.modelName, alarmId: alarm.id } });
        }
        out.push(entry);
      }
      return out;
    },

    async idle() {
      while (inFlight.size > 0) await Promise.all([...inFlight.values()].map((f) => f.promise));
    },

    getPolicy: currentPolicy,

    async setPolicy(changes, actor) {
      // Checked before anything is written: a refused change leaves the stored policy as it was.
      const next = parseRetrainPolicyChanges(changes);
      const merged = { ...(await storedChanges()), ...next };
      await db.exec(
        `INSERT INTO drift_retrain_policy (scope, policy, actor, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (scope) DO UPDATE SET policy = excluded.policy, actor = excluded.actor, updated_at = excluded.updated_at`,
        [SCOPE, JSON.stringify(merged), actor, clock()],
      );
      await drift.recordAction({ actor, kind: 'retrain-policy-changed', reason: `retrain policy changed: ${Object.keys(next).join(', ') || 'nothing'}`, details: { changes: next } });
      return currentPolicy();
    },

    pause: (reason, actor) => setPaused(true, reason, actor),
    resume: (reason, actor) => setPaused(false, reason, actor),
    paused: pausedState,

    async runs(limit = 50) {
      const rows = await db.query('SELECT * FROM drift_retrain_runs ORDER BY started_at DESC, id LIMIT ?', [Math.min(500, Math.max(1, limit))]);
      return rows.map(toRun);
    },

    async run(id) {
      const rows = await db.query('SELECT * FROM drift_retrain_runs WHERE id = ?', [id]);
      return rows[0] ? toRun(rows[0]) : null;
    },

    async lineage(runId) {
      const rows = await db.query('SELECT * FROM drift_retrain_runs WHERE id = ?', [runId]);
      if (!rows[0]) return null;
      const run = toRun(rows[0]);
      const reports = await drift.reports({ ids: run.triggerReports });
      return { run, reports: reports.map((r) => ({ id: r.id, deviceId: r.deviceId, receivedAt: r.receivedAt })), package: run.packageRef };
    },
  };
}
