import { EdgekdError } from '../../shared/errors';
import type { FleetController } from '../fleet/fleet-controller';
import type { FleetSource } from '../api/fleet-adapter';
import { DeviceRegistry } from '../fleet/registry/device-registry';
import { summarizeRollout, type RolloutSummary } from '../fleet/rollout-summary';
import type { FleetCommand, FleetCommandSender } from './fleet-commands';
import { FleetStore } from '../fleet/store/fleet-store';
import type { SqlDb } from '../store/sql-db';


/**
 * The fleet as a process of a split deployment sees it. Reads come from the running controller
 * when this process leads the fleet (its in-memory rollout state is the newest), else from the
 * store every process shares (rollout snapshots are written every 100 ms while they change), so
 * any `api` or standby `fleet` process answers them. Changes (create, pause, resume, abort) need
 * the controller that drives the rollout: the leader applies them itself; any other process
 * forwards them to the leader through the store (fleet-commands.ts) and answers with the leader's
 * outcome or EDGEKD_LEADER_TIMEOUT; without a forwarder they are refused with
 * EDGEKD_FEATURE_UNAVAILABLE (503).
 */
export async function storeFleetView(db: SqlDb, leader: () => FleetController | null, forward?: FleetCommandSender): Promise<FleetSource> {
  const store = await FleetStore.open(db);
  const registry = new DeviceRegistry(store, Date.now);
  const change = async (local: (l: FleetController) => Promise<RolloutSummary>, command: FleetCommand): Promise<RolloutSummary> => {
    const l = leader();
    if (l) return local(l);
    if (forward) return forward.send(command);
    throw new EdgekdError('EDGEKD_FEATURE_UNAVAILABLE', 'this process does not lead the fleet: send rollout changes to the fleet leader (GET /api/fleet/leader answers 200 there)');
  };
  return {
    // The registry is the store's: the leader's controller reads the same rows.
    listDevices: () => registry.list(),
    getDevice: (id) => registry.get(id),
    async getRolloutState(id) {
      const l = leader();
      return l ? l.getRolloutState(id) : store.getRollout(id);
    },
    async getRollout(id) {
      const l = leader();
      if (l) return l.getRollout(id);
      const s = await store.getRollout(id);
      return s ? summarizeRollout(s) : null;
    },
    async listRollouts() {
      const l = leader();
      if (l) return l.listRollouts();
      return (await store.loadRollouts()).map(({ state }) => summarizeRollout(state));
    },
    listPackages: () => store.listPackages(),
    createRollout: (request) => change((l) => l.createRollout(request), { kind: 'create', request }),
    pauseRollout: (rolloutId) => change((l) => l.pauseRollout(rolloutId), { kind: 'pause', rolloutId }),
    resumeRollout: (rolloutId) => change((l) => l.resumeRollout(rolloutId), { kind: 'resume', rolloutId }),
    abortRollout: (rolloutId, reason) => change((l) => l.abortRollout(rolloutId, reason), { kind: 'abort', rolloutId, ...(reason !== undefined ? { reason } : {}) }),
  };
}
