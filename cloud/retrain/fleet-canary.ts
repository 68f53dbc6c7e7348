import type { FleetController } from '../fleet/fleet-controller';
import type { RolloutRequest } from '../fleet/rollout/rollout-spec';
import { EdgekdError } from '../../shared/errors';
import type { RolloutEngine } from './retrain-pipeline';

export interface FleetCanaryOptions {
  fleet: Pick<FleetController, 'registerPackage' | 'createRollout' | 'getRollout' | 'abortRollout'>;
  /** Canary size, gates (ML quality: shadow agreement, confidence shift) and bake, passed through. */
  request?: Omit<RolloutRequest, 'packageId' | 'target'>;
  pollMs?: number;
  timeoutMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The rollout engine on the fleet controller: register the signed package, start a canary rollout
 * on the target (the alarming cohort's devices) with the ML-quality gates, and wait until it ends. `completed` is a promotion;
 * `rolled_back`, `aborted` and `failed` are a roll back (the fleet has already restored the
 * previous model on the canaries). Pausing the retrain loop aborts the rollout.
 */
export function fleetCanaryRollout(o: FleetCanaryOptions): RolloutEngine {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  return async (pkg, target, ctx) => {
    const record = await o.fleet.registerPackage({ manifest: pkg.manifest, signature: pkg.signature, model: pkg.model });
    const started = await o.fleet.createRollout({ ...o.request, packageId: record.packageId, target });
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
