import { randomBytes } from 'node:crypto';
import type { BrokerTarget } from '../broker/broker-target';
import type { Principal } from '../broker/device-acl';
import { EdgekdError } from '../../shared/errors';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, type Logger } from '../../shared/log/logger';
import { openDb } from '../store/open-store';
import type { SqlDb } from '../store/sql-db';
import { exportJobOfPackage } from '../jobs/job-kinds';
import { createJobRunner, type JobKindSpec, type JobRunner } from '../jobs/job-runner';
import type { FleetController } from '../fleet/fleet-controller';
import type { BrokerAccess } from '../fleet/registry/broker-access';
import { createDeviceAdmin, type DeviceAdmin } from '../fleet/registry/device-admin';
import { generateKeys } from '../signing/generate-keys';
import { buildApp, type App } from './build-app';
import type { ApiToken } from './auth';
import { createTeacherCatalog } from './teacher-catalog';
import { fleetPortOf, packageCatalogOf } from './fleet-adapter';
import { startPipeline } from './pipeline';
import { resolveProcessId } from '../scale/process-id';
import { planRole, type CloudRole } from '../scale/cloud-roles';
import { LeaderLease, type Fence } from '../scale/leader-lease';
import { createLeaderElector } from '../scale/leader-elector';
import { createPgJobBus } from '../scale/pg-job-bus';
import { storeFleetView } from '../scale/fleet-view';
import { createFleetCommandSender, startFleetCommandApplier } from '../scale/fleet-commands';
import { leaderRoute } from '../scale/leader-route';
import { createFsArtifactStore } from '../scale/fs-artifact-store';
import { ARTIFACTS_ENV } from '../jobs/job-artifacts';
import { FleetStore } from '../fleet/store/fleet-store';
import { storedDownloadPlugin } from '../fleet/delivery/stored-download';
import type { DriftPort, RetrainPort } from './ports';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));
export const REPO_ROOT = here('../../');
export const DEFAULT_TEACHER_DIR = join(REPO_ROOT, 'models/teachers/fashion-mnist-lenet5-bn');

/** The job kinds this cloud runs and the handler module of each (run in a job's child process). */
const JOB_KINDS: Readonly<Record<string, JobKindSpec>> = {
  distill: { module: here('../jobs/handlers/distill-job.ts') },
  export: { module: here('../jobs/handlers/export-job.ts') },
  'teacher-import': { module: here('../jobs/handlers/teacher-import-job.ts') },
};

export interface CloudOptions {
  /** Where the SQLite file, job folders and uploaded teachers live. */
  readonly dataDir: string;
  /** `sqlite:PATH` or `postgres://…`; default `sqlite:<dataDir>/cloud.db`. */
  readonly db?: string;
  /** An external MQTT broker (Mosquitto, EMQX, HiveMQ); default: the embedded aedes broker. */
  readonly brokerUrl?: string;
  /** The external broker with the cloud's account and TLS material (parseBrokerTarget); wins over brokerUrl. */
  readonly broker?: BrokerTarget;
  /**
   * Mosquitto only: the password file and ACL this cloud writes from the device registry, and
   * Mosquitto's pid file (reload by SIGHUP after each device change). Needs the broker account.
   */
  readonly mosquittoAuth?: { readonly passwordFile: string; readonly aclFile: string; readonly pidFile: string };
  readonly brokerPort?: number;
  readonly host?: string;
  readonly port?: number;
  /** Default: one admin token, generated. */
  readonly tokens?: readonly ApiToken[];
  readonly concurrency?: number;
  readonly teacherDir?: string;
  /** Run without the fleet (no broker, no controller): fleet routes answer 503. */
  readonly noFleet?: boolean;
  /**
   * This process's id: its job-runner lease owner and its MQTT client id (`edgekd-cloud-<id>`).
   * Default: `EDGEKD_PROCESS_ID`, else generated (kept in the data folder on SQLite so a restart
   * takes its running jobs back at once; fresh per start on PostgreSQL). See cloud/scale/process-id.ts.
   */
  readonly processId?: string;
  /**
   * The artifact store's folder (content-addressed packages, job outputs), default
   * `<dataDir>/artifacts`; on split roles a path every process mounts (cloud/scale/fs-artifact-store.ts).
   */
  readonly artifactsDir?: string;
  /**
   * Base URL devices fetch packages from when a rollout delivers over HTTP (the address of the
   * `api` Service on split roles, e.g. https://edgekd.example); without it a rollout asking for
   * HTTP delivery is refused (MQTT chunk delivery needs no URL).
   */
  readonly downloadUrl?: string;
  /** PostgreSQL schema for all tables (default: the connection's search path). */
  readonly dbSchema?: string;
  /** Job kinds to register instead of the built-in ones (a test runs a stand-in handler). */
  readonly jobKinds?: Readonly<Record<string, JobKindSpec>>;
  /** Which components this process runs (cloud/scale/cloud-roles.ts); default `all`. */
  readonly role?: CloudRole;
  /** MQTT 5 share group of device-report ingest (default `edgekd-ingest`); the same for every process of one cloud. */
  readonly ingestGroup?: string;
  /** Fleet leader lease lifetime; a standby takes over this long after the leader stops renewing. Default 6 s. */
  readonly leaderTtlMs?: number;
  readonly logger?: Logger;
  readonly logLevel?: string;
  /** Extra environment for job child processes (e.g. EDGEKD_BACKEND). */
  readonly jobEnv?: NodeJS.ProcessEnv;
  readonly drift?: DriftPort;
  readonly retrain?: RetrainPort;
  /** Retrain policy overrides (the demo shortens persistence and cool-down to minutes). */
  readonly retrainPolicy?: Record<string, number>;
  readonly driftTickMs?: number;
  /**
   * Embedded broker only: extra accounts with the cloud's own rights, for trusted tools running
   * next to it (the demo's input feeder and `drift inject`). Never devices.
   */
  readonly localMqttAccounts?: ReadonlyArray<{ readonly username: string; readonly password: string }>;
  /** Further brokers kept in step with provisioning, besides the one this cloud runs or writes the files of. */
  readonly brokerAccess?: readonly BrokerAccess[];
}

interface FleetSide {
  readonly fleet: FleetController;
  readonly drift: DriftPort | undefined;
  readonly retrain: RetrainPort | undefined;
  stop(): Promise<void>;
}

export interface RunningCloud {
  /** This process's id (lease owner, MQTT client id suffix). */
  readonly processId: string;
  readonly role: CloudRole;
  /** The fleet lease this process holds now (its fencing token), or null (standby, or a role without the fleet). */
  leader(): Fence | null;
  readonly url: string;
  /** Without credentials (safe to print). */
  readonly brokerUrl: string | null;
  /** Tells the broker about device additions, rotations and revocations (null without the fleet, or an external broker this cloud does not manage). */
  readonly brokerAccess: BrokerAccess | null;
  readonly tokens: readonly ApiToken[];
  readonly app: App;
  readonly db: SqlDb;
  readonly jobs: JobRunner;
  readonly fleet: FleetController | null;
  /** Provisioning (add, list, revoke, rotate), as the admin API and `edgekd devices --api` use it. */
  readonly devices: DeviceAdmin | null;
  /** Why a component is absent, by name (shown by `edgekd cloud` at start). */
  readonly absent: Readonly<Record<string, string>>;
  /** This cloud's package signing key, and the trusted-keys list to give agents. */
  readonly keyFile: string;
  readonly trustedKeysFile: string;
  close(): Promise<void>;
}

/**
 * Starts the whole cloud in this process: store, (embedded) broker, fleet controller, job runner,
 * teacher catalog, API and console. Closing stops them in reverse order; running jobs go back to
 * the queue and resume on the next start.
 */
export async function startCloud(opts: CloudOptions): Promise<RunningCloud> {
  const log = opts.logger ?? createLogger('cloud', opts.logLevel);
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const absent: Record<string, string> = {};
  const closers: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) await c().catch((e) => log.warn({ err: e }, 'error while stopping'));
  };

  try {
    const dbUrl = opts.db ?? `sqlite:${join(dataDir, 'cloud.db')}`;
    const db = await openDb(dbUrl, opts.dbSchema ? { schema: opts.dbSchema } : {});
    closers.push(() => db.close());
    const processId = resolveProcessId({ explicit: opts.processId, dataDir, sharedStore: db.dialect === 'postgres' });
    const plan = planRole(opts.role ?? 'all', { store: db.dialect, externalBroker: opts.broker !== undefined || opts.brokerUrl !== undefined, noFleet: opts.noFleet });
    log.info({ processId, role: plan.role }, 'cloud process starting');

    // The fleet lease: `all` holds it for its whole life or refuses to start (a second process on
    // the same SQLite file, or a second `all` on one PostgreSQL); `fleet` stands by for it.
    const leaderTtlMs = opts.leaderTtlMs ?? 6_000;
    const lease = plan.fleet === 'none' ? null : await LeaderLease.open({ db, role: 'fleet', holder: processId, ttlMs: leaderTtlMs });
    const soleFence = plan.fleet === 'sole' && lease ? await lease.acquireOrRefuse() : undefined;
    // Renewal starts at once (start-up may outlast the lease). Losing the lease (this process was
    // paused past the ttl) stops the fleet here; its writes are refused by the fencing token anyway.
    let stopSide = async (): Promise<void> => undefined;
    let leaderOf = (): Fence | null => null;
    if (soleFence) {
      const elector = createLeaderElector({ lease: lease!, ttlMs: leaderTtlMs, log: log.child({ module: 'leader' }), adopt: { fence: soleFence, stop: () => stopSide() }, onElected: async () => async () => undefined });
      leaderOf = () => elector.fence();
      elector.start();
      closers.push(() => elector.stop());
    }

    const artifactsDir = resolve(opts.artifactsDir ?? join(dataDir, 'artifacts'));
    const artifacts = createFsArtifactStore(artifactsDir);
    const downloadUrl = opts.downloadUrl;
    if (!downloadUrl && plan.fleet !== 'none') absent['http delivery'] = 'rollouts with delivery "http" need --download-url (the address devices fetch packages from); MQTT chunk delivery works without it';
    const kinds = opts.jobKinds ?? JOB_KINDS;
    // On a shared store, live job progress crosses processes: a run executing on a worker streams
    // to browsers connected to any api process.
    const bus = db.dialect === 'postgres' ? createPgJobBus({ db, connectionString: dbUrl, ...(opts.dbSchema ? { schema: opts.dbSchema } : {}), origin: processId, log: log.child({ module: 'job-bus' }) }) : undefined;
    const jobs = createJobRunner({ db, kinds, concurrency: plan.runsJobs ? (opts.concurrency ?? 1) : 0, dataDir: join(dataDir, 'jobs'), owner: processId, env: { ...opts.jobEnv, [ARTIFACTS_ENV]: artifactsDir }, artifacts, ...(bus ? { bus } : {}), log: log.child({ module: 'jobs' }) });
    await jobs.start();
    closers.push(() => jobs.stop());
    if (!plan.runsJobs) absent['job execution'] = `--role ${plan.role} submits and follows jobs; worker processes run them`;

    const teachers = await createTeacherCatalog({ db, dataDir, jobs });
    const teacherDir = opts.teacherDir ?? DEFAULT_TEACHER_DIR;
    if (existsSync(join(teacherDir, 'model.json'))) await teachers.registerFolder(teacherDir, basename(resolve(teacherDir)), 'bundled');
    else absent['default teacher'] = `${teacherDir} has no model.json`;

    // The signing key for packages this cloud exports; agents and the fleet trust its public key.
    const keysDir = join(dataDir, 'keys');
    const keyFile = join(keysDir, 'signing-key.json');
    const trustedKeysFile = join(keysDir, 'trusted-keys.json');
    if (!existsSync(keyFile)) generateKeys({ dir: keysDir });

    let brokerUrl: string | null = null;
    let brokerAccess: BrokerAccess | null = null;
    let account: { username: string; password: string } | null = null;
    let external: BrokerTarget | null = null;
    // Set while a fleet controller runs here: the broker asks it about devices (one registry, one cache).
    let deviceAuth: ((u: string | undefined, p: Buffer | undefined) => Promise<Principal | null>) | null = null;
    // Reports logged by `--role ingest` processes reach the fleet leader's controller through the
    // report log; these notices wake it (it also polls).
    const reportNotices = db.dialect === 'postgres' ? (await import('../scale/pg-report-notices')).createPgReportNotices({ db, connectionString: dbUrl, ...(opts.dbSchema ? { schema: opts.dbSchema } : {}), log: log.child({ module: 'report-notices' }) }) : undefined;
    let ingestConsumer: import('../fleet/ingest/ingest-consumer').IngestConsumer | null = null;
    if (plan.ingestConsumer) {
      const target = opts.broker ?? (await import('../broker/broker-target')).parseBrokerTarget({ url: opts.brokerUrl! });
      const { createIngestConsumer } = await import('../fleet/ingest/ingest-consumer');
      const consumer = await createIngestConsumer({
        db, brokerUrl: target.url, clientId: `edgekd-cloud-${processId}`, logger: log.child({ module: 'ingest' }),
        ...(target.username ? { username: target.username } : {}), ...(target.password ? { password: target.password } : {}), ...(target.tls ? { tls: target.tls } : {}),
        ...(opts.ingestGroup ? { group: opts.ingestGroup } : {}), ...(reportNotices ? { notices: reportNotices } : {}),
      });
      closers.push(() => consumer.close());
      ingestConsumer = consumer;
      brokerUrl = target.url;
      absent.fleet = '--role ingest logs and acks device reports (status, drift, heartbeat); the fleet leader applies them to its rollouts';
    } else if (plan.fleet !== 'none') {
      external = opts.broker ?? (opts.brokerUrl ? (await import('../broker/broker-target')).parseBrokerTarget({ url: opts.brokerUrl }) : null);
      if (external) {
        brokerUrl = external.url;
        if (external.username && external.password) account = { username: external.username, password: external.password };
        if (opts.mosquittoAuth) {
          if (!account) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'writing Mosquitto\'s password file needs the cloud\'s broker account (user and password)');
          const { createMosquittoAccess } = await import('../broker/mosquitto-access');
          const { DeviceRegistry } = await import('../fleet/registry/device-registry');
          const reader = new DeviceRegistry(await FleetStore.open(db), Date.now);
          const m = createMosquittoAccess({ ...opts.mosquittoAuth, service: account, accounts: () => reader.brokerAccounts(), logger: log.child({ module: 'broker' }) });
          // The cloud's own account must be in the file before it connects; a Mosquitto not yet
          // running reads the files when it starts.
          await m.sync({ reload: existsSync(opts.mosquittoAuth.pidFile) });
          brokerAccess = m;
        }
      } else {
        const { startEmbeddedBroker } = await import('../broker/embedded-broker');
        const { createEmbeddedAccess } = await import('../broker/embedded-access');
        const { timingSafeEqual } = await import('node:crypto');
        // The cloud's own account exists only in this process: a fresh secret each start.
        const service = { username: 'edgekd-cloud', password: randomBytes(24).toString('base64url') };
        account = service;
        const services = new Map([service, ...(opts.localMqttAccounts ?? [])].map((a) => [a.username, Buffer.from(a.password)]));
        const authenticate = async (u: string | undefined, p: Buffer | undefined): Promise<Principal | null> => {
          if (!u || !p) return null; // anonymous clients are refused
          const secret = services.get(u);
          if (secret) return p.length === secret.length && timingSafeEqual(p, secret) ? { kind: 'service', name: u } : null;
          return deviceAuth ? deviceAuth(u, p) : null;
        };
        // The MQTT port devices expect (1883) when it is free, else any free port (Mosquitto may hold 1883).
        const start = (port: number) => startEmbeddedBroker({ host: '127.0.0.1', port, authenticate, logger: log.child({ module: 'broker' }) });
        const broker = opts.brokerPort !== undefined ? await start(opts.brokerPort) : await start(1883).catch(() => start(0));
        closers.push(() => broker.close());
        brokerUrl = broker.url;
        brokerAccess = createEmbeddedAccess(broker, log.child({ module: 'broker' }));
      }
    } else absent.fleet = opts.noFleet ? 'started with --no-fleet' : `--role ${plan.role} runs no fleet; the fleet-role leader does`;

    /** Fleet controller, pipeline, drift and retrain: what only the fleet lease holder runs. */
    const startFleetSide = async (fence: Fence | undefined): Promise<FleetSide> => {
      const stops: Array<() => Promise<void>> = [];
      const stop = async (): Promise<void> => {
        for (const c of stops.splice(0).reverse()) await c().catch((e) => log.warn({ err: e }, 'error while stopping the fleet side'));
      };
      try {
        const { createFleetController } = await import('../fleet/fleet-controller');
        const fleet = await createFleetController({
          db, artifacts, ...(downloadUrl ? { httpBaseUrl: downloadUrl } : {}), brokerUrl: brokerUrl!, mqttClientId: `edgekd-cloud-${processId}`, protocolVersion: external ? 5 : 4, ingest: external ? 'shared' : 'exclusive', ...(external && opts.ingestGroup ? { ingestGroup: opts.ingestGroup } : {}), ...(external && reportNotices ? { reportNotices } : {}), ...(fence ? { fence } : {}), logger: log.child({ module: 'fleet' }),
          ...(account ? { mqttUsername: account.username, mqttPassword: account.password } : {}),
          ...(external?.tls ? { mqttTls: external.tls } : {}),
        });
        deviceAuth = (u, p) => fleet.registry.authenticate(u, p);
        stops.push(async () => {
          deviceAuth = null;
          await fleet.close();
        });
        const { parseTrustedKeys } = await import('../../shared/package/trusted-keys');
        const { parseJson } = await import('../../shared/contracts/parse');
        for (const k of parseTrustedKeys(parseJson(readFileSync(trustedKeysFile), trustedKeysFile)).keys) await fleet.addTrustedKey(k);
        // Rollout changes other processes forward to this leader (split roles, or `api` next to `all`).
        if (fence && db.dialect === 'postgres') {
          stops.push(await startFleetCommandApplier({ db, fence, holder: processId, fleet, connectionString: dbUrl, ...(opts.dbSchema ? { schema: opts.dbSchema } : {}), log: log.child({ module: 'fleet-commands' }) }));
        }
        const pipeline = startPipeline({ jobs, fleet, keyFile, artifacts, log: log.child({ module: 'pipeline' }) });
        stops.push(async () => pipeline.stop());
        void pipeline.recover();
        // Drift aggregation and the automatic retrain loop need the fleet (reports arrive over MQTT).
        let drift = opts.drift;
        let retrain = opts.retrain;
        if (!drift && kinds.distill && kinds.export) {
          const { wireDrift } = await import('./drift-wiring');
          const wired = await wireDrift({ db, jobs, fleet, keyFile, artifacts, ...(fence ? { fence } : {}), log: log.child({ module: 'drift' }), ...(opts.retrainPolicy ? { policy: opts.retrainPolicy } : {}), ...(opts.driftTickMs ? { tickMs: opts.driftTickMs } : {}) });
          stops.push(() => wired.close());
          drift = wired.drift;
          retrain = wired.retrain;
        }
        return { fleet, drift, retrain, stop };
      } catch (e) {
        await stop();
        throw e;
      }
    };

    let fleetSide: FleetSide | null = null;
    // The controller while this `fleet` process leads (null on standby and on other roles).
    let leaderFleet: FleetController | null = null;
    if (plan.fleet === 'sole') {
      fleetSide = await startFleetSide(soleFence);
      stopSide = fleetSide.stop;
      closers.push(stopSide); // before the broker closes; the elector's later call finds nothing left
    } else if (plan.fleet === 'elected') {
      const elector = createLeaderElector({
        lease: lease!, ttlMs: leaderTtlMs, log: log.child({ module: 'leader' }),
        onElected: async (fence) => {
          const side = await startFleetSide(fence);
          leaderFleet = side.fleet;
          return async () => {
            leaderFleet = null;
            await side.stop();
          };
        },
      });
      leaderOf = () => elector.fence();
      elector.start();
      closers.push(() => elector.stop());
    } else if (plan.role === 'all') {
      const pipeline = startPipeline({ jobs, fleet: null, keyFile, log: log.child({ module: 'pipeline' }) });
      closers.push(async () => pipeline.stop());
      void pipeline.recover();
    }
    const fleet = fleetSide?.fleet ?? null;
    // Split roles serve the fleet's read routes from the shared store, and rollout changes on the
    // fleet leader (cloud/scale/fleet-view.ts); package downloads over HTTP from the shared store
    // and artifact store (cloud/fleet/delivery/stored-download.ts), so devices may fetch from any process.
    // Rollout changes on a process that does not lead are forwarded to the leader (cloud/scale/fleet-commands.ts).
    const splitView = plan.role !== 'all' && !opts.noFleet ? await storeFleetView(db, () => leaderFleet, createFleetCommandSender({ db, sender: processId, ...(opts.dbSchema ? { schema: opts.dbSchema } : {}) })) : null;
    const downloads = splitView ? storedDownloadPlugin({ store: await FleetStore.open(db, { artifacts }), now: Date.now }) : fleet?.httpPlugin();

    const driftPort = fleetSide?.drift ?? (plan.fleet === 'none' ? opts.drift : undefined);
    const retrainPort = fleetSide?.retrain ?? (plan.fleet === 'none' ? opts.retrain : undefined);
    if (!driftPort) absent.drift = fleet ? 'drift aggregation needs the distill and export jobs' : 'drift reports arrive through the fleet (not run by this process)';
    if (!retrainPort) absent.retrain = 'the retrain loop runs with drift aggregation';

    const runOfPackage = async (p: { manifest: unknown }): Promise<string | null> => (await exportJobOfPackage(jobs, p.manifest))?.params.runId ?? null;
    // The broker this cloud runs or writes for (embedded, Mosquitto files) first, then any others given.
    const brokers = [...(brokerAccess ? [brokerAccess] : []), ...(opts.brokerAccess ?? [])];
    const devices = fleet ? createDeviceAdmin({ registry: fleet.registry, brokers, log: log.child({ module: 'devices' }) }) : null;
    const tokens = opts.tokens ?? [{ token: randomBytes(18).toString('base64url'), role: 'admin' as const, name: 'admin' }];
    const { app, metrics } = await buildApp(
      {
        jobs,
        teachers,
        tokens,
        ...(fleet ? { fleet: fleetPortOf(fleet), packages: packageCatalogOf(fleet, runOfPackage) } : {}),
        ...(splitView ? { fleet: fleetPortOf(splitView), packages: packageCatalogOf(splitView, runOfPackage) } : {}),
        ...(devices ? { devices } : {}),
        ...(driftPort ? { drift: driftPort } : {}),
        ...(retrainPort ? { retrain: retrainPort } : {}),
      },
      { consoleDir: here('../console'), logLevel: opts.logLevel ?? 'warn', plugins: [...(downloads ? [downloads] : []), leaderRoute(processId, () => (plan.fleet === 'elected' && !leaderFleet ? null : leaderOf()))] },
    );
    closers.push(() => app.close());
    if (fleet) (await import('./fleet-metrics')).registerFleetMetrics(metrics, fleet);
    if (ingestConsumer) (await import('./ingest-metrics')).registerIngestMetrics(metrics, ingestConsumer);
    const url = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
    return { processId, role: plan.role, leader: () => leaderOf(), url, brokerUrl, brokerAccess, tokens, app, db, jobs, fleet, devices, absent, keyFile, trustedKeysFile, close: closeAll };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
