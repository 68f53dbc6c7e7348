import { describe, expect, it } from 'vitest';
import { EdgekdError } from '../../shared/errors';
import { createLogger } from '../../shared/log/logger';
import type { ModelRef, Offer, RollbackCommand } from '../../shared/protocol';
import { resolveAgentConfig } from '../agent/config';
import type { LoadedModel } from '../inference/model-runtime';
import type { Pointer, SlotName } from '../storage/slots';
import type { AgentState, DeploymentRecord, StateStore } from './deployment-record';
import type { ExecContext, StepResult } from './exec-context';
import type { Executors } from './executors';
import { createReconciler, type ReconcilerDeps, type ReportFields } from './reconciler';
import type { StepAction } from './steps';

/*
 * The loop's decisions (what runs next, what is persisted and reported, where a failure or a
 * rollback leads, how a restart resumes) with the executors replaced by recorders: what the
 * executors themselves do is tested against real slots, onnxruntime and brokers in test/edge.
 */

const sha = (c: string): string => c.repeat(64);
const model = (v: number): ModelRef => ({ name: 'mlp', version: v, sha256: sha(String(v)) });

function offer(id: string, v: number, activation?: Offer['activation']): Offer {
  return {
    schema: 'edgekd.offer/1', deploymentId: id, rolloutId: `ro-${id}`, issuedAt: new Date(0).toISOString(), model: model(v),
    manifest: {}, signature: { algorithm: 'Ed25519', keyId: 'k1', signature: 'sig' },
    delivery: { sizeBytes: 10, sha256: sha(String(v)), chunkBytes: 1024, chunkSha256: [sha(String(v))] },
    ...(activation ? { activation } : {}),
  };
}

interface World {
  reconciler: ReturnType<typeof createReconciler>;
  state: AgentState;
  reports: ReportFields[];
  ran: StepAction[];
  saves: AgentState[];
  serving: { ref: ModelRef | null };
  pointer: { value: Pointer | null };
}

/**
 * A reconciler over an in-memory store, a pointer held in a variable and executors that record
 * their action and behave as `behave` says (default: succeed; `activate` switches the pointer
 * and the serving model the way the real one does).
 */
function world(o: { state?: Partial<AgentState>; pointer?: Pointer | null; serving?: ModelRef | null; behave?: Partial<Record<StepAction, (ctx: ExecContext) => Promise<StepResult>>>; bakeCrashLimit?: number } = {}): World {
  const state: AgentState = { bootSeq: 1, current: null, finished: [], commandsSeen: [], ...o.state };
  const saves: AgentState[] = [];
  const store: StateStore = {
    load: async () => state,
    save: async (s) => void saves.push(structuredClone(s)),
    durable: async () => undefined,
  };
  const serving = { ref: o.serving ?? null };
  const pointer = { value: o.pointer ?? null };
  const reports: ReportFields[] = [];
  const ran: StepAction[] = [];
  const defaults: Partial<Record<StepAction, (ctx: ExecContext) => Promise<StepResult>>> = {
    stage: async (ctx) => ({ patch: { slot: ctx.slots.inactiveSlot(pointer.value) } }),
    activate: async (ctx) => {
      const slot = ctx.record.slot as SlotName;
      pointer.value = { active: { slot, model: ctx.record.offer.model }, previous: pointer.value?.active ?? null };
      serving.ref = ctx.record.offer.model;
      return { patch: { bakeStartedAtMs: 0 } };
    },
    rollBack: async () => {
      pointer.value = pointer.value?.previous ? { active: pointer.value.previous, previous: null } : null;
      serving.ref = pointer.value?.active.model ?? null;
      return {};
    },
  };
  const run = (a: StepAction) => async (_step: unknown, ctx: ExecContext): Promise<StepResult> => {
    ran.push(a);
    const f = o.behave?.[a] ?? defaults[a];
    return f ? f(ctx) : {};
  };
  const executors = Object.fromEntries((['preflight', 'download', 'verify', 'stage', 'warm', 'shadow', 'activate', 'bake', 'rollBack'] as const).map((a) => [a, run(a)])) as unknown as Executors;
  const config = resolveAgentConfig({ deviceId: 'dev-1', stateDir: '/nonexistent/edgekd-reconciler-test', trustedKeysFile: 'keys.json', mqtt: { url: 'mqtt://127.0.0.1:1883' }, bakeCrashLimit: o.bakeCrashLimit ?? 2 });
  const runtime = {
    active: () => (serving.ref ? ({ ref: serving.ref } as LoadedModel) : null),
    release: async () => undefined,
  };
  const slots = {
    readPointer: async () => pointer.value,
    inactiveSlot: (p: Pointer | null): SlotName => (p?.active.slot === 'a' ? 'b' : 'a'),
  };
  const deps: ReconcilerDeps = {
    store, state, log: createLogger('reconciler-test', 'silent'), nowMs: () => 1_000, config,
    report: (f) => void reports.push(f),
    executors,
    baseContext: { config, slots, runtime, nowMs: () => 1_000 } as unknown as ReconcilerDeps['baseContext'],
  };
  return { reconciler: createReconciler(deps), state, reports, ran, saves, serving, pointer };
}

const statesOf = (w: World, id: string): string[] => w.reports.filter((r) => r.deploymentId === id).map((r) => r.state);

describe('reconciler', () => {
  it('runs an offer through every step to committed, reporting each state once and keeping the finished deployment', async () => {
    const w = world();
    w.reconciler.offer(offer('d1', 1));
    await w.reconciler.idle();
    expect(w.ran).toEqual(['preflight', 'download', 'verify', 'stage', 'warm', 'activate', 'bake']);
    expect(statesOf(w, 'd1')).toEqual(['offered', 'downloading', 'verifying', 'staging', 'warming', 'activating', 'baking', 'committed']);
    expect(w.state.current).toBeNull();
    expect(w.state.finished).toEqual([{ deploymentId: 'd1', state: 'committed', model: model(1) }]);
    expect(w.reports.at(-1)).toMatchObject({ state: 'committed', activeModel: model(1), rolloutId: 'ro-d1' });
  });

  it('persists every transition before the next step acts', async () => {
    const w = world();
    w.reconciler.offer(offer('d1', 1));
    await w.reconciler.idle();
    const persisted = w.saves.map((s) => s.current?.state ?? `finished:${s.finished.at(-1)?.state}`);
    expect(persisted).toEqual(['offered', 'downloading', 'verifying', 'staging', 'warming', 'activating', 'baking', 'finished:committed']);
  });

  it('runs the shadow step only when the offer asks for it and a model is serving to compare with', async () => {
    const first = world();
    first.reconciler.offer(offer('d1', 1, { shadow: { inferences: 5 } }));
    await first.reconciler.idle();
    expect(first.ran).not.toContain('shadow');
    const second = world({ serving: model(1), pointer: { active: { slot: 'a', model: model(1) }, previous: null } });
    second.reconciler.offer(offer('d2', 2, { shadow: { inferences: 5 } }));
    await second.reconciler.idle();
    expect(second.ran).toContain('shadow');
    expect(statesOf(second, 'd2')).toContain('shadow');
  });

  it('answers an offer its preflight refuses with a single rejected report and runs nothing else', async () => {
    const w = world({ behave: { preflight: async () => Promise.reject(new EdgekdError('EDGEKD_DOWNGRADE_REJECTED', 'older')) } });
    w.reconciler.offer(offer('d1', 1));
    await w.reconciler.idle();
    expect(w.ran).toEqual(['preflight']);
    expect(w.reports).toHaveLength(1);
    expect(w.reports[0]).toMatchObject({ deploymentId: 'd1', state: 'rejected', failedStep: 'offered', error: { code: 'EDGEKD_DOWNGRADE_REJECTED' } });
  });

  it('ends a failure before the switch in failed, without a rollback, and keeps the old model serving', async () => {
    const w = world({ serving: model(1), behave: { verify: async () => Promise.reject(new EdgekdError('EDGEKD_HASH_MISMATCH', 'bad bytes')) } });
    w.reconciler.offer(offer('d2', 2));
    await w.reconciler.idle();
    expect(w.ran).not.toContain('rollBack');
    expect(w.reports.at(-1)).toMatchObject({ state: 'failed', failedStep: 'verifying', error: { code: 'EDGEKD_HASH_MISMATCH' }, activeModel: model(1) });
  });

  it('rolls back a failure after the switch and ends in rolled_back with the bake measurements', async () => {
    const bake = { inferences: 3, errors: 2, p95LatencyMs: 1, bakedMs: 50 };
    const w = world({
      serving: model(1), pointer: { active: { slot: 'a', model: model(1) }, previous: null },
      behave: { bake: async () => Promise.reject(new EdgekdError('EDGEKD_GATE_FAILED', 'error rate', { details: { bake } })) },
    });
    w.reconciler.offer(offer('d2', 2));
    await w.reconciler.idle();
    expect(w.ran.slice(-2)).toEqual(['bake', 'rollBack']);
    expect(w.reports.at(-1)).toMatchObject({ state: 'rolled_back', failedStep: 'baking', error: { code: 'EDGEKD_GATE_FAILED' }, bake, activeModel: model(1) });
    expect(w.serving.ref).toEqual(model(1));
  });

  it('says failed, not rolled_back, when the rollback itself fails', async () => {
    const w = world({
      behave: {
        bake: async () => Promise.reject(new EdgekdError('EDGEKD_GATE_FAILED', 'gate')),
        rollBack: async () => Promise.reject(new Error('disk gone')),
      },
    });
    w.reconciler.offer(offer('d1', 1));
    await w.reconciler.idle();
    expect(w.reports.at(-1)).toMatchObject({ state: 'failed', error: { message: 'rollback failed: disk gone' } });
  });

  it('stops a running step on a rollback command and reports rolled_back with the command id, once', async () => {
    let started!: () => void;
    const inBake = new Promise<void>((r) => (started = r));
    const w = world({
      behave: {
        bake: (ctx) => {
          started();
          return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
        },
      },
    });
    w.reconciler.offer(offer('d1', 1));
    await inBake;
    const cmd: RollbackCommand = { schema: 'edgekd.command/1', type: 'rollback', commandId: 'c1', issuedAt: new Date(0).toISOString(), deploymentId: 'd1', reason: 'operator' };
    w.reconciler.rollback(cmd);
    w.reconciler.rollback(structuredClone(cmd)); // a re-delivered command is executed once
    await w.reconciler.idle();
    expect(w.ran.slice(-2)).toEqual(['bake', 'rollBack']);
    const ends = w.reports.filter((r) => r.state === 'rolled_back');
    expect(ends).toHaveLength(1);
    expect(ends[0]).toMatchObject({ commandId: 'c1', failedStep: 'baking', error: { code: 'EDGEKD_RUN_CANCELLED', message: 'operator' } });
    expect(w.state.commandsSeen).toEqual(['c1']);
  });

  it('ignores an offer for a deployment it already finished (a re-delivered retained offer)', async () => {
    const w = world({ state: { finished: [{ deploymentId: 'd1', state: 'committed', model: model(1) }] } });
    w.reconciler.offer(offer('d1', 1));
    await w.reconciler.idle();
    expect(w.ran).toEqual([]);
    expect(w.reports).toEqual([]);
  });

  it('fails a deployment not yet switched when a newer offer supersedes it, then installs the newer one', async () => {
    let release!: () => void;
    let first = true;
    const w = world({
      behave: {
        download: () => {
          if (!first) return Promise.resolve({});
          first = false;
          return new Promise((r) => (release = () => r({})));
        },
      },
    });
    w.reconciler.offer(offer('d1', 1));
    while (!w.ran.includes('download')) await new Promise((r) => setTimeout(r, 1));
    w.reconciler.offer(offer('d2', 2));
    release();
    await w.reconciler.idle();
    expect(w.reports.find((r) => r.deploymentId === 'd1' && r.state === 'failed')).toMatchObject({ error: { code: 'EDGEKD_ROLLOUT_STATE', message: 'superseded by deployment d2' } });
    expect(statesOf(w, 'd2').at(-1)).toBe('committed');
  });

  describe('after a restart', () => {
    const record = (r: Partial<DeploymentRecord>): DeploymentRecord => ({ deploymentId: 'd1', offer: offer('d1', 1), state: 'downloading', enteredAtMs: 0, bakeRestarts: 0, ...r });

    it('resumes the persisted step, reporting the resumed state once', async () => {
      const w = world({ state: { current: record({ state: 'verifying' }) } });
      await w.reconciler.recover();
      await w.reconciler.idle();
      expect(w.ran[0]).toBe('verify');
      expect(w.reports[0]).toMatchObject({ deploymentId: 'd1', state: 'verifying', resumed: true });
      expect(statesOf(w, 'd1').at(-1)).toBe('committed');
    });

    it('continues with the bake when the pointer shows the switch happened before the crash', async () => {
      const w = world({ state: { current: record({ state: 'activating', slot: 'a' }) }, pointer: { active: { slot: 'a', model: model(1) }, previous: null }, serving: model(1) });
      await w.reconciler.recover();
      await w.reconciler.idle();
      expect(w.ran).toEqual(['bake']);
      expect(w.reports[0]).toMatchObject({ state: 'baking', resumed: true });
    });

    it('counts restarts during the bake and rolls back at the crash-loop limit', async () => {
      const w = world({ bakeCrashLimit: 2, state: { current: record({ state: 'baking', slot: 'a', bakeRestarts: 1 }) }, pointer: { active: { slot: 'a', model: model(1) }, previous: null }, serving: model(1) });
      await w.reconciler.recover();
      await w.reconciler.idle();
      expect(w.ran).toEqual(['rollBack']);
      expect(w.reports.at(-1)).toMatchObject({ state: 'rolled_back', error: { code: 'EDGEKD_RUN_CANCELLED' } });
      expect(w.reports.at(-1)!.error!.message).toContain('crash loop');
    });

    it('runs the checks of an offer never reported again without reporting it resumed', async () => {
      const w = world({ state: { current: record({ state: 'offered' }) } });
      await w.reconciler.recover();
      await w.reconciler.idle();
      expect(w.ran[0]).toBe('preflight');
      expect(w.reports.some((r) => r.resumed)).toBe(false);
    });
  });

  it('leaves the record as it is when stopped in the middle of a step, so the next start resumes it', async () => {
    let started!: () => void;
    const inDownload = new Promise<void>((r) => (started = r));
    const w = world({
      behave: {
        download: (ctx) => {
          started();
          return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
        },
      },
    });
    w.reconciler.offer(offer('d1', 1));
    await inDownload;
    await w.reconciler.stop();
    expect(w.state.current).toMatchObject({ deploymentId: 'd1', state: 'downloading' });
    expect(w.reports.some((r) => r.state === 'failed')).toBe(false);
  });
});
