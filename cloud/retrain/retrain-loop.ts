import type { Fence } from '../scale/leader-lease';
import type { Logger } from '../../shared/log/logger';
import type { SqlDb } from '../store/sql-db';
import type { FleetController } from '../fleet/fleet-controller';
import type { RolloutRequest } from '../fleet/rollout/rollout-spec';
import { createDriftService, type DriftService } from '../drift/drift-service';
import type { DriftReportEnvelope } from '../../shared/protocol/messages/drift';
import type { CohortVerdict } from '../drift/fleet-aggregation';
import { cohortOfDevice } from './cohort';
import { fleetCanaryRollout } from './fleet-canary';
import { createRetrainController, type RetrainController } from './retrain-controller';
import type { RetrainPolicy } from './policy';
import { createRetrainPipeline, type RetrainEngines } from './retrain-pipeline';

/** The canary plan of a retrained model when the caller gives none. */
export const DEFAULT_RETRAIN_ROLLOUT: Omit<RolloutRequest, 'packageId' | 'target'> = { waves: { canaryDevices: 1, firstWaveDevices: 2, growthFactor: 2 }, bakeMs: 5000 };

export interface RetrainLoopOptions {
  db: SqlDb;
  fleet: Pick<FleetController, 'events' | 'getDevice' | 'registerPackage' | 'createRollout' | 'getRollout' | 'abortRollout'>;
  engines: RetrainEngines;
  log: Logger;
  clock?: () => number;
  tickMs?: number;
  policy?: Partial<RetrainPolicy>;
  rollout?: Omit<RolloutRequest, 'packageId' | 'target'>;
  /** The fleet leader's lease on a shared store: retrain runs start in fenced writes (cloud/scale). */
  fence?: Fence;
  rolloutPollMs?: number;
}

export interface RetrainLoop {
  readonly drift: DriftService;
  readonly controller: RetrainController;
  /** The fleet verdicts of the last evaluation. */
  verdicts(): CohortVerdict[];
  /** One evaluation and policy pass now (what the timer does). */
  tick(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The automatic retrain loop on a fleet: drift reports from the fleet controller are filed under
 * the reporting device's cohort (its first group, see `cohort.ts`); a timer evaluates the fleet
 * and lets the retrain controller decide; runs go through the one retrain pipeline with the given
 * engines, and the rollout is the fleet canary on exactly the alarming cohort's devices.
 */
export async function startRetrainLoop(o: RetrainLoopOptions): Promise<RetrainLoop> {
  const { fleet, log } = o;
  const clock = o.clock ?? Date.now;
  const drift = createDriftService({
    db: o.db,
    clock,
    logger: log.child({ module: 'drift' }),
    cohortOf: async (deviceId) => cohortOfDevice(deviceId, (await fleet.getDevice(deviceId))?.groups),
  });
  await drift.migrate();
  const onDrift = (e: { report: DriftReportEnvelope }): void => {
    drift.ingest(e.report).catch((err: unknown) => log.warn({ err }, 'drift report rejected'));
  };
  fleet.events.on('drift', onDrift);

  const steps = createRetrainPipeline({
    engines: o.engines,
    rollout: fleetCanaryRollout({ fleet, request: o.rollout ?? DEFAULT_RETRAIN_ROLLOUT, pollMs: o.rolloutPollMs ?? 1000 }),
  });
  const controller = createRetrainController({ db: o.db, clock, drift, steps, logger: log.child({ module: 'retrain' }), ...(o.policy ? { policy: o.policy } : {}), ...(o.fence ? { fence: o.fence } : {}) });

  let verdicts: CohortVerdict[] = [];
  let ticking: Promise<void> | null = null;
  const tick = (): Promise<void> => {
    ticking ??= (async () => {
      try {
        verdicts = await drift.evaluate();
        await controller.tick();
      } catch (e) {
        log.warn({ err: e }, 'drift evaluation failed');
      } finally {
        ticking = null;
      }
    })();
    return ticking;
  };
  const timer = setInterval(() => void tick(), o.tickMs ?? 5000);
  timer.unref();

  return {
    drift,
    controller,
    verdicts: () => verdicts,
    tick,
    async close() {
      clearInterval(timer);
      fleet.events.off('drift', onDrift);
      await ticking;
    },
  };
}
