import { EdgekdError } from '../../shared/errors';
import type { ArtifactStore } from '../scale/artifact-store';
import type { Fence } from '../scale/leader-lease';
import type { Logger } from '../../shared/log/logger';
import type { SqlDb } from '../store/sql-db';
import type { JobRunner } from '../jobs/job-runner';
import type { FleetController } from '../fleet/fleet-controller';
import type { RolloutRequest } from '../fleet/rollout/rollout-spec';
import type { RetrainPolicy } from '../retrain/policy';
import type { DriftPort, RetrainPort } from './ports';
import { retrainPortOf } from './retrain-port';

export interface DriftWiring {
  readonly drift: DriftPort;
  readonly retrain: RetrainPort;
  close(): Promise<void>;
}

/**
 * Wiring only: the retrain loop (cloud/retrain: drift service, controller, the one retrain
 * pipeline with the job-runner engines, the fleet canary on the alarming cohort) started on this
 * cloud's store, jobs and fleet, and mapped to the API's drift and retrain ports.
 */
export async function wireDrift(o: {
  db: SqlDb;
  jobs: JobRunner;
  fleet: FleetController;
  keyFile: string;
  log: Logger;
  tickMs?: number;
  policy?: Partial<RetrainPolicy>;
  rollout?: Omit<RolloutRequest, 'packageId' | 'target'>;
  /** The fleet leader's lease on a shared store: retrain runs start in fenced writes. */
  fence?: Fence;
  artifacts?: ArtifactStore;
}): Promise<DriftWiring> {
  const { startRetrainLoop } = await import('../retrain/retrain-loop');
  const { createJobEngines } = await import('../retrain/job-engines');
  const loop = await startRetrainLoop({
    db: o.db,
    fleet: o.fleet,
    engines: createJobEngines({ jobs: o.jobs, fleet: o.fleet, keyFile: o.keyFile, ...(o.artifacts ? { artifacts: o.artifacts } : {}) }),
    log: o.log,
    ...(o.tickMs ? { tickMs: o.tickMs } : {}),
    ...(o.policy ? { policy: o.policy } : {}),
    ...(o.fence ? { fence: o.fence } : {}),
    ...(o.rollout ? { rollout: o.rollout } : {}),
  });
  const { drift, controller: retrain } = loop;

  return {
    drift: {
      async devices() {
        return (await drift.devices()).map((d) => ({ id: d.deviceId, ...d, score: 1 - d.pValue }));
      },
      async device(id) {
        const d = (await drift.devices()).find((x) => x.deviceId === id);
        if (!d) throw new EdgekdError('EDGEKD_NOT_FOUND', `no drift reports from device ${id}`);
        return { id, ...d, score: 1 - d.pValue, reports: await drift.reports({ deviceId: id, limit: 20 }) };
      },
      async cohorts() {
        return loop.verdicts().map((v) => ({ id: `${v.cohort}/${v.modelName}@${v.modelVersion}`, ...v, alarmingDevices: v.devicesInAlarm }));
      },
      async alarms() {
        return (await drift.cohortAlarms()).map((a) => ({ ...a, reason: `${a.lastVerdict.devicesInAlarm} of ${a.lastVerdict.devices} devices drifted (quorum ${a.lastVerdict.quorum})`, raisedAt: a.openedAt }));
      },
    },
    retrain: retrainPortOf(retrain),
    close: () => loop.close(),
  };
}
