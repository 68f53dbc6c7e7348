import type { FleetController } from '../fleet/fleet-controller';
import type { RolloutRequest } from '../fleet/rollout/rollout-spec';
import { EdgekdError } from '../../shared/errors';
import type { RolloutEngine } from './retrain-pipeline';
import { classPriorOf, driftRepairRequest } from './drift-repair-request';

export interface FleetCanaryOptions {
  /** `listPackages` finds the serving package's class prior for the drift-repair gate. */
  fleet: Pick<FleetController, 'registerPackage' | 'createRollout' | 'getRollout' | 'abortRollout'> & Partial<Pick<FleetController, 'listPackages'>>;
  /** Canary size, gates and bake. With shadow evaluation in `activation`, the ML gates become the drift-repair gates (`drift-repair-request.ts`). */
  request?: Omit<RolloutRequest, 'packageId' | 'target'>;
  /** `regression`: the request's ML gates as given (e.g. shadow agreement ≥ 0.5), for comparison runs. Default `drift-repair`. */
  mlGate?: 'drift-repair' | 'regression';
  pollMs?: number;
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The rollout engine on the fleet controller: register the signed package, start a canary rollout
 * on the target (the alarming cohort's devices) with the drift-repair ML-quality gates, and wait until it ends. `completed` is a promotion;
 * `rolled_back`, `aborted` and `failed` are a roll back (the fleet has already restored the
 * previous model on the canaries). Pausing the retrain loop aborts the rollout.
 */
export function fleetCanaryRollout(o: FleetCanaryOptions): RolloutEngine {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  return async (pkg, target, ctx) => {
    const record = await o.fleet.registerPackage({ manifest: pkg.manifest, signature: pkg.signature, model: pkg.model });
    const request = o.mlGate === 'regression' ? o.request : driftRepairRequest(o.request ?? {}, await lineClassPrior(o.fleet, ctx.model, pkg.manifest));
    const started = await o.fleet.createRollout({ ...request, packageId: record.packageId, target });
    const deadline = Date.now() + (o.timeoutMs ?? 6 * 3_600_000);
    for (;;) {
      const s = await o.fleet.getRollout(started.id);
      if (!s) throw new EdgekdError('EDGEKD_NOT_FOUND', `rollout ${started.id} disappeared`);
      if (s.status === 'completed') return { outcome: 'promoted', rolloutId: s.id, summary: { status: s.status, devices: s.devices, counts: s.counts } };
      if (s.status === 'rolled_back' || s.status === 'aborted' || s.status === 'failed') {
        return { outcome: 'rolled-back', rolloutId: s.id, summary: { status: s.status, reason: s.reason ?? null, counts: s.counts } };
      }
      if (ctx.signal.aborted) {
        await o.fleet.abortRollout(s.id, 'retrain loop paused');
        throw ctx.signal.reason ?? new EdgekdError('EDGEKD_RUN_CANCELLED', 'cancelled');
      }
      if (Date.now() > deadline) {
        await o.fleet.abortRollout(s.id, 'retrain rollout timed out');
        throw new EdgekdError('EDGEKD_STEP_TIMEOUT', `canary rollout ${s.id} did not finish in time`);
      }
      await sleep(o.pollMs ?? 2000);
    }
  };
}

/**
 * The line's clean class prior: the drift reference of the package being replaced (built before any
 * adaptation), else the candidate's own. The candidate's is second choice: an adapted model's
 * answers on the synthetic calibration samples are not the line's clean answers.
 */
async function lineClassPrior(fleet: FleetCanaryOptions['fleet'], serving: { name: string; version: string }, candidate: unknown): Promise<number[] | null> {
  const packages = fleet.listPackages ? await fleet.listPackages() : [];
  const deployed = packages.find((p) => p.name === serving.name && String(p.version) === String(serving.version));
  return (deployed ? classPriorOf(deployed.manifest) : null) ?? classPriorOf(candidate);
}
