import type { DeploymentState, Offer } from '../../shared/protocol';
import type { SlotName } from '../storage/slots';
import type { DeploymentRecord } from './deployment-record';

/**
 * The deployment as data. Each action's arguments are declared once in `StepArgs`; `Step` is the
 * discriminated union derived from it, and `Executors` (executors/index.ts) must have exactly one
 * function per action — the compiler rejects a missing one.
 *
 * `planStep(record)` is pure: the persisted state alone decides what runs next, which is why a
 * restarted agent resumes by simply planning again.
 */
export interface StepArgs {
  preflight: { offer: Offer };
  download: { offer: Offer; transport: 'mqtt' | 'http' };
  verify: { offer: Offer };
  stage: { offer: Offer; slot: SlotName };
  warm: { offer: Offer; slot: SlotName; runs: number };
  shadow: { offer: Offer; slot: SlotName; inferences: number; maxWaitMs: number; minAgreement: number | null };
  activate: { offer: Offer; slot: SlotName };
  bake: { offer: Offer; bakeMs: number; startedAtMs: number };
  rollBack: { offer: Offer };
}
export type StepAction = keyof StepArgs;
export type StepOf<A extends StepAction> = { action: A; state: DeploymentState } & StepArgs[A];
export type Step = { [A in StepAction]: StepOf<A> }[StepAction];

export interface PlanEnv {
  /** The slot the pointer does not name (where a new model goes). */
  readonly inactiveSlot: SlotName;
  /** Whether a model is serving now (shadow evaluation needs one to compare with). */
  readonly hasActiveModel: boolean;
  readonly defaultWarmupRuns: number;
  readonly nowMs: number;
}

export const STATE_ORDER: readonly DeploymentState[] = ['offered', 'downloading', 'verifying', 'staging', 'warming', 'shadow', 'activating', 'baking', 'committed'];

/** States in which the serving side has not changed: a failure there ends in `failed`/`rejected`. */
export function beforeActivation(s: DeploymentState): boolean {
  return ['offered', 'downloading', 'verifying', 'staging', 'warming', 'shadow'].includes(s);
}

export function planStep(r: DeploymentRecord, env: PlanEnv): Step | null {
  const offer = r.offer;
  const slot = r.slot ?? env.inactiveSlot;
  const a = offer.activation ?? {};
  switch (r.state) {
    case 'offered':
      return { action: 'preflight', state: r.state, offer };
    case 'downloading': {
      const http = offer.delivery.http !== undefined && offer.delivery.prefer === 'http';
      return { action: 'download', state: r.state, offer, transport: http ? 'http' : 'mqtt' };
    }
    case 'verifying':
      return { action: 'verify', state: r.state, offer };
    case 'staging':
      return { action: 'stage', state: r.state, offer, slot };
    case 'warming':
      return { action: 'warm', state: r.state, offer, slot, runs: a.warmupRuns ?? env.defaultWarmupRuns };
    case 'shadow':
      return {
        action: 'shadow', state: r.state, offer, slot,
        inferences: a.shadow?.inferences ?? 0,
        maxWaitMs: a.shadow?.maxWaitMs ?? 60_000,
        minAgreement: a.shadow?.minAgreement ?? null,
      };
    case 'activating':
      return { action: 'activate', state: r.state, offer, slot };
    case 'baking':
      return { action: 'bake', state: r.state, offer, bakeMs: a.bakeMs ?? 0, startedAtMs: r.bakeStartedAtMs ?? env.nowMs };
    default:
      return null;
  }
}

/** The state after a successful step in `state`. */
export function successor(state: DeploymentState, offer: Offer, env: Pick<PlanEnv, 'hasActiveModel'>): DeploymentState {
  switch (state) {
    case 'offered':
      return 'downloading';
    case 'downloading':
      return 'verifying';
    case 'verifying':
      return 'staging';
    case 'staging':
      return 'warming';
    case 'warming':
      return offer.activation?.shadow && env.hasActiveModel ? 'shadow' : 'activating';
    case 'shadow':
      return 'activating';
    case 'activating':
      return 'baking';
    case 'baking':
      return 'committed';
    default:
      return state;
  }
}

/**
 * Where a failure in `state` leads. Before anything is downloaded: `rejected`; before the switch:
 * `failed` (the old model never stopped serving); from the switch on: the rollBack step runs and
 * the deployment ends `rolled_back`.
 */
export function failureOutcome(state: DeploymentState): { terminal: 'rejected' | 'failed' | 'rolled_back'; needsRollBack: boolean } {
  if (state === 'offered') return { terminal: 'rejected', needsRollBack: false };
  if (beforeActivation(state)) return { terminal: 'failed', needsRollBack: false };
  return { terminal: 'rolled_back', needsRollBack: true };
}

/** Deadline of a step from configuration and the offer. */
export function stepTimeoutMs(
  step: Step,
  t: { downloadingMs: number; verifyingMs: number; stagingMs: number; warmingMs: number; shadowSlackMs: number; activatingMs: number; bakingSlackMs: number },
): number {
  const o = step.offer.timeoutsMs ?? {};
  switch (step.action) {
    case 'preflight':
      return o.verifying ?? t.verifyingMs;
    case 'download':
      return o.downloading ?? t.downloadingMs;
    case 'verify':
      return o.verifying ?? t.verifyingMs;
    case 'stage':
      return o.staging ?? t.stagingMs;
    case 'warm':
      return o.warming ?? t.warmingMs;
    case 'shadow':
      return o.shadow ?? step.maxWaitMs + t.shadowSlackMs;
    case 'activate':
      return o.activating ?? t.activatingMs;
    case 'bake':
      return o.baking ?? step.bakeMs + t.bakingSlackMs;
    case 'rollBack':
      return o.activating ?? t.activatingMs;
  }
}
