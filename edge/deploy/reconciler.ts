import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { EdgekdError, toEdgekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log/logger';
import type { ModelRef, Offer, RollbackCommand, StatusReport } from '../../shared/protocol';
import { isTerminalState, type DeploymentState } from '../../shared/protocol';
import { MAX_COMMANDS, MAX_FINISHED, type AgentState, type DeploymentRecord, type StateStore } from './deployment-record';
import type { ExecContext, ModelMemory, StepResult } from './exec-context';
import { executors as defaultExecutors, type Executors } from './executors';
import { beforeActivation, failureOutcome, planStep, stepTimeoutMs, successor, type Step } from './steps';

/** Extra fields of a status report beyond the envelope the reporter fills. */
export type ReportFields = Omit<Partial<StatusReport>, 'schema' | 'deviceId' | 'bootId' | 'seq' | 'idempotencyKey' | 'ts'> & {
  deploymentId: string;
  state: DeploymentState;
};

export interface ReconcilerDeps {
  readonly store: StateStore;
  readonly state: AgentState;
  readonly log: Logger;
  readonly nowMs: () => number;
  readonly config: ExecContext['config'];
  /** Builds the per-step context (everything but record, signal, memory, note, progress). */
  readonly baseContext: Omit<ExecContext, 'record' | 'signal' | 'memory' | 'note' | 'progress' | 'partPath'>;
  /** Writes a status report to the outbox (and triggers delivery). */
  readonly report: (fields: ReportFields) => void;
  readonly onProgress?: (deploymentId: string, bytesDone: number, bytesTotal: number) => void;
  /** The step executors (default: `executors/`; unit tests of the loop inject their own). */
  readonly executors?: Executors;
}

export interface Reconciler {
  /** Crash recovery: resumes or settles the persisted deployment. Call once, before offers. */
  recover(): Promise<void>;
  /** A (retained) offer arrived; null = cleared. */
  offer(offer: Offer | null): void;
  rollback(cmd: RollbackCommand): void;
  current(): DeploymentRecord | null;
  /** Resolves when no step is running and nothing is queued (tests, shutdown). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The one exclusive loop that drives deployments: plan a step from the persisted record, run its
 * executor under its deadline, persist the transition, report it, repeat. Offers and rollback
 * commands only change inputs (a pending offer, an abort flag) and wake the loop, so there is
 * never more than one step running.
 */
export function createReconciler(deps: ReconcilerDeps): Reconciler {
  const { state, log } = deps;
  const executors = deps.executors ?? defaultExecutors;
  const memory: ModelMemory = { candidate: null, previous: null };
  let pendingOffer: Offer | null = null;
  let pendingRollbacks: RollbackCommand[] = [];
  let running: Promise<void> | null = null;
  let stepAbort: AbortController | null = null;
  let stopped = false;

  const persist = (): Promise<void> => deps.store.save(state);
  const partPath = (r: DeploymentRecord): string => join(deps.config.stateDir, 'downloads', `${r.offer.delivery.sha256}.part`);
  const isFinished = (id: string): boolean => state.finished.some((f) => f.deploymentId === id);

  const reportRecord = (r: DeploymentRecord, extra: Partial<ReportFields> = {}): void => {
    deps.report({ deploymentId: r.deploymentId, rolloutId: r.offer.rolloutId, state: r.state, model: r.offer.model, ...extra });
  };

  const ctxFor = (r: DeploymentRecord, signal: AbortSignal): ExecContext => ({
    ...deps.baseContext,
    record: r,
    signal,
    memory,
    partPath: partPath(r),
    note: (patch) => Object.assign(r, patch),
    progress: (b) => deps.onProgress?.(r.deploymentId, b, r.offer.delivery.sizeBytes),
  });

  async function runStep(step: Step, r: DeploymentRecord): Promise<StepResult> {
    // A step acts on the device (slots, pointer): the state it follows from must be on disk first.
    await deps.store.durable();
    const ac = new AbortController();
    stepAbort = ac;
    // A rollback that arrived between two steps must stop the next one too (a bake can be long).
    if (r.abort) ac.abort(new EdgekdError('EDGEKD_RUN_CANCELLED', r.abort.reason));
    if (stopped) ac.abort(new EdgekdError('EDGEKD_RUN_CANCELLED', 'agent stopping'));
    const ms = stepTimeoutMs(step, deps.config.stepTimeouts);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = new EdgekdError('EDGEKD_STEP_TIMEOUT', `step ${step.action} (state ${step.state}) ran past its ${ms} ms deadline`, { details: { step: step.action, timeoutMs: ms } });
        ac.abort(e);
        reject(e);
      }, ms);
    });
    try {
      const exec = executors[step.action] as (s: Step, c: ExecContext) => Promise<StepResult>;
      return await Promise.race([exec(step, ctxFor(r, ac.signal)), deadline]);
    } finally {
      clearTimeout(timer);
      stepAbort = null;
    }
  }

  async function finish(r: DeploymentRecord, terminal: DeploymentState, extra: Partial<ReportFields> = {}): Promise<void> {
    r.state = terminal;
    r.enteredAtMs = deps.nowMs();
    state.current = null;
    state.finished = [...state.finished.filter((f) => f.deploymentId !== r.deploymentId), { deploymentId: r.deploymentId, state: terminal, model: r.offer.model }].slice(-MAX_FINISHED);
    await persist();
    const fields: Partial<ReportFields> = { ...extra, activeModel: deps.baseContext.runtime.active()?.ref ?? null };
    if (r.error && !fields.error) fields.error = r.error;
    if (r.failedStep && !fields.failedStep) fields.failedStep = r.failedStep;
    reportRecord(r, fields);
    log.info({ deploymentId: r.deploymentId, state: terminal, code: fields.error?.code }, 'deployment finished');
    await rm(partPath(r), { force: true }).catch(() => undefined);
    if (terminal !== 'committed') {
      await deps.baseContext.runtime.release(memory.candidate);
      memory.candidate = null;
    }
  }

  async function rollBackThenFinish(r: DeploymentRecord, extra: Partial<ReportFields>): Promise<void> {
    try {
      await runStep({ action: 'rollBack', state: r.state, offer: r.offer }, r);
      await finish(r, 'rolled_back', extra);
    } catch (e) {
      // The previous model could not be restored: say so; the pointer still names a verified slot.
      const err = toEdgekdError(e);
      log.error({ err, deploymentId: r.deploymentId }, 'rollback failed');
      await finish(r, 'failed', { ...extra, error: { code: err.code, message: `rollback failed: ${err.message}`, retryable: err.retryable } });
    }
  }

  async function handleFinishedRollback(cmd: RollbackCommand): Promise<void> {
    const f = state.finished.find((x) => x.deploymentId === cmd.deploymentId);
    const active = deps.baseContext.runtime.active()?.ref ?? null;
    if (!f) {
      deps.report({ deploymentId: cmd.deploymentId, state: 'failed', commandId: cmd.commandId, activeModel: active, error: { code: 'EDGEKD_NOT_FOUND', message: 'this device never ran that deployment' } });
      return;
    }
    if (f.state === 'committed' && active?.sha256 === f.model.sha256) {
      const r: DeploymentRecord = { deploymentId: f.deploymentId, offer: stubOffer(f.deploymentId, f.model), state: 'committed', enteredAtMs: deps.nowMs(), bakeRestarts: 0 };
      await runStep({ action: 'rollBack', state: 'committed', offer: r.offer }, r);
      state.finished = state.finished.map((x) => (x.deploymentId === f.deploymentId ? { ...x, state: 'rolled_back' } : x));
      await persist();
      deps.report({ deploymentId: f.deploymentId, state: 'rolled_back', model: f.model, commandId: cmd.commandId, activeModel: deps.baseContext.runtime.active()?.ref ?? null });
      return;
    }
    deps.report({ deploymentId: f.deploymentId, state: f.state, model: f.model, commandId: cmd.commandId, activeModel: active });
  }

  async function loop(): Promise<void> {
    while (!stopped) {
      for (const cmd of pendingRollbacks.splice(0)) {
        if (state.commandsSeen.includes(cmd.commandId)) continue;
        state.commandsSeen = [...state.commandsSeen, cmd.commandId].slice(-MAX_COMMANDS);
        if (state.current?.deploymentId === cmd.deploymentId) {
          state.current.abort = { commandId: cmd.commandId, reason: cmd.reason ?? 'rollback requested' };
          await persist();
        } else {
          await persist();
          await handleFinishedRollback(cmd);
        }
      }
      let r = state.current;
      if (!r) {
        const o = pendingOffer;
        pendingOffer = null;
        if (!o) break;
        if (isFinished(o.deploymentId)) continue;
        // `offered` is reported only once the pre-download checks pass (docs/protocol.md); an
        // offer they refuse gets a single `rejected` report.
        r = { deploymentId: o.deploymentId, offer: o, state: 'offered', enteredAtMs: deps.nowMs(), bakeRestarts: 0 };
        state.current = r;
        await persist();
        continue;
      }
      if (r.abort) {
        const extra: Partial<ReportFields> = { failedStep: r.state, error: { code: 'EDGEKD_RUN_CANCELLED', message: r.abort.reason } };
        if (r.abort.commandId) extra.commandId = r.abort.commandId;
        if (beforeActivation(r.state)) await finish(r, 'rolled_back', extra);
        else await rollBackThenFinish(r, extra);
        continue;
      }
      if (pendingOffer?.deploymentId === r.deploymentId) pendingOffer = null;
      if (pendingOffer && beforeActivation(r.state)) {
        await finish(r, 'failed', { failedStep: r.state, error: { code: 'EDGEKD_ROLLOUT_STATE', message: `superseded by deployment ${pendingOffer.deploymentId}` } });
        continue;
      }
      const step = planStep(r, {
        inactiveSlot: deps.baseContext.slots.inactiveSlot(await deps.baseContext.slots.readPointer()),
        hasActiveModel: deps.baseContext.runtime.active() !== null,
        defaultWarmupRuns: deps.config.warmupRuns,
        nowMs: deps.nowMs(),
      });
      if (!step) {
        state.current = null;
        await persist();
        continue;
      }
      try {
        const result = await runStep(step, r);
        if (r.abort) continue; // a rollback arrived while the step ran; handled at the top
        Object.assign(r, result.patch ?? {});
        if (r.state === 'offered') reportRecord(r, { activeModel: deps.baseContext.runtime.active()?.ref ?? null });
        const next = successor(r.state, r.offer, { hasActiveModel: deps.baseContext.runtime.active() !== null });
        if (next === 'committed') {
          await finish(r, 'committed', result.report ?? {});
          continue;
        }
        r.state = next;
        r.enteredAtMs = deps.nowMs();
        await persist();
        reportRecord(r, { ...(result.report ?? {}), activeModel: deps.baseContext.runtime.active()?.ref ?? null });
      } catch (e) {
        // Stopping (SIGTERM) interrupts a step without judging it: the record stays as it is and
        // the next start resumes it, exactly as after a crash.
        if (stopped) break;
        if (r.abort) continue;
        const err = toEdgekdError(e);
        log.warn({ deploymentId: r.deploymentId, step: step.action, code: err.code, msg: err.message }, 'deployment step failed');
        r.error = { code: err.code, message: err.message, retryable: err.retryable };
        r.failedStep = r.state;
        const out = failureOutcome(r.state);
        const extra: Partial<ReportFields> = {};
        if (r.shadow) extra.shadow = r.shadow;
        const bake = (err.details as { bake?: StatusReport['bake'] }).bake;
        if (bake) extra.bake = bake;
        if (out.needsRollBack) await rollBackThenFinish(r, extra);
        else await finish(r, out.terminal, extra);
      }
    }
  }

  const kick = (): void => {
    if (running || stopped) return;
    running = loop()
      .catch((e) => log.error({ err: e }, 'reconcile loop crashed'))
      .finally(() => {
        running = null;
        if (!stopped && (pendingOffer || pendingRollbacks.length > 0 || (state.current && !isTerminalState(state.current.state)))) kick();
      });
  };

  return {
    async recover() {
      const r = state.current;
      if (!r) return;
      const pointer = await deps.baseContext.slots.readPointer();
      if (r.state === 'activating' && pointer !== null && pointer.active.slot === r.slot && pointer.active.model.sha256 === r.offer.model.sha256) {
        // The rename happened before the crash: the switch is done, continue with the bake.
        r.state = 'baking';
        r.bakeStartedAtMs = deps.nowMs();
      } else if (r.state === 'baking') {
        r.bakeRestarts += 1;
        if (r.bakeRestarts >= deps.config.bakeCrashLimit) {
          r.abort = { reason: `the agent restarted ${r.bakeRestarts} times during the bake (crash loop)` };
        }
      }
      await persist();
      // An offer whose checks had not passed yet was never reported: the checks simply run again.
      if (!r.abort && r.state !== 'offered') reportRecord(r, { resumed: true, activeModel: deps.baseContext.runtime.active()?.ref ?? null });
      log.info({ deploymentId: r.deploymentId, state: r.state }, 'resuming deployment after restart');
      kick();
    },
    offer(o) {
      if (o === null) return;
      if (state.current?.deploymentId === o.deploymentId || isFinished(o.deploymentId)) return;
      pendingOffer = o;
      kick();
    },
    rollback(cmd) {
      pendingRollbacks.push(cmd);
      if (state.current?.deploymentId === cmd.deploymentId && !state.commandsSeen.includes(cmd.commandId)) {
        // Waiting steps (download, shadow, bake) stop now, and a step about to start sees the flag;
        // the loop then handles the abort (and persists it) at its next turn.
        state.current.abort = { commandId: cmd.commandId, reason: cmd.reason ?? 'rollback requested' };
        stepAbort?.abort(new EdgekdError('EDGEKD_RUN_CANCELLED', 'rollback requested'));
      }
      kick();
    },
    current: () => state.current,
    async idle() {
      while (running) await running;
    },
    async stop() {
      stopped = true;
      stepAbort?.abort(new EdgekdError('EDGEKD_RUN_CANCELLED', 'agent stopping'));
      if (running) await running.catch(() => undefined);
      pendingRollbacks = [];
    },
  };
}

/** A minimal offer for rolling back a finished deployment whose full offer is no longer kept. */
function stubOffer(deploymentId: string, model: ModelRef): Offer {
  return {
    schema: 'edgekd.offer/1', deploymentId, rolloutId: 'unknown', issuedAt: new Date(0).toISOString(), model,
    manifest: {}, signature: { algorithm: 'Ed25519', keyId: 'none', signature: 'none' },
    delivery: { sizeBytes: 1, sha256: model.sha256, chunkBytes: 1024, chunkSha256: [model.sha256] },
  };
}
