import { EdgekdError } from '../../shared/errors';

export const CLOUD_ROLES = ['all', 'api', 'fleet', 'worker', 'ingest'] as const;
export type CloudRole = (typeof CLOUD_ROLES)[number];

/** What a role starts in its process. */
export interface RolePlan {
  readonly role: CloudRole;
  /** Job children this process runs at once (0: it only submits, lists and streams jobs). */
  readonly runsJobs: boolean;
  /** Fleet controller, drift aggregation, retrain loop and run pipeline: only on the lease holder. */
  readonly fleet: 'none' | 'sole' | 'elected';
  /**
   * An ingest-only member of the shared-subscription group (`--role ingest`): logs and acks device
   * reports, updates device rows; the fleet leader applies the logged reports to its rollouts.
   */
  readonly ingestConsumer: boolean;
}

export function parseCloudRole(raw: string | undefined): CloudRole {
  if (raw === undefined) return 'all';
  if ((CLOUD_ROLES as readonly string[]).includes(raw)) return raw as CloudRole;
  throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--role must be one of ${CLOUD_ROLES.join(', ')}, got '${raw}'`);
}

/**
 * The components each role starts, and the setups a role cannot run in:
 * - `all` (default): everything in one process. It takes the fleet lease and refuses to start
 *   while another process holds it (one `all` per store; SQLite is always one process).
 * - `api`: HTTP API and console; submits and follows jobs, runs none; no fleet.
 * - `fleet`: fleet controller, drift and retrain loop on the elected leader; the others stand by.
 * - `worker`: runs jobs only.
 * - `ingest`: takes its share of the device reports (status, drift, heartbeat) through the MQTT 5
 *   share group; any number, next to the fleet leader's controller, which is a member too.
 * Split roles need a store every process shares (PostgreSQL) and an external broker: the
 * embedded broker lives inside one process and speaks MQTT 3.1.1 only (no shared subscriptions).
 */
export function planRole(role: CloudRole, env: { store: 'sqlite' | 'postgres'; externalBroker: boolean; noFleet?: boolean }): RolePlan {
  if (role === 'all') return { role, runsJobs: true, fleet: env.noFleet ? 'none' : 'sole', ingestConsumer: false };
  if (env.store !== 'postgres') {
    throw new EdgekdError('EDGEKD_ROLE_UNSUPPORTED', `--role ${role} needs PostgreSQL (--db postgres://…): a SQLite file serves one cloud process, run it with --role all`);
  }
  if (!env.externalBroker) {
    throw new EdgekdError(
      'EDGEKD_ROLE_UNSUPPORTED',
      `--role ${role} needs an external MQTT broker (--broker mqtt://…): the embedded broker runs inside one process and speaks MQTT 3.1.1 only, so with it the cloud runs as one process (--role all)`,
    );
  }
  if ((role === 'fleet' || role === 'ingest') && env.noFleet) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--role ${role} and --no-fleet contradict each other`);
  return { role, runsJobs: role === 'worker', fleet: role === 'fleet' ? 'elected' : 'none', ingestConsumer: role === 'ingest' };
}
