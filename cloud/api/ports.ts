import type { JobRunner } from '../jobs/job-runner';
import type { ApiToken } from './auth';
import type { DeviceAdmin } from '../fleet/registry/device-admin';
import type { Device, DriftRecord, ModelPackage, RetrainPolicyUpdate, Rollout, RolloutCreate, Teacher, TeacherUpload } from './schemas';

/**
 * What the API needs from the rest of the cloud, as small interfaces. `startCloud`
 * (`cloud/api/start-cloud.ts`) fills them from the real components: the teacher catalog
 * (`teacher-catalog.ts`), the fleet controller through `fleet-adapter.ts` (fleet and packages), the
 * drift service and retrain controller through `drift-wiring.ts`, and device provisioning from
 * `createDeviceAdmin` over the fleet's registry (`cloud/fleet/registry/device-admin.ts`). A port
 * left undefined makes its routes answer 503 EDGEKD_FEATURE_UNAVAILABLE. Implementations throw EdgekdError (not found, invalid input,
 * state conflicts) and the API maps the code to an HTTP status.
 */
export interface TeacherCatalog {
  list(): Promise<Teacher[]>;
  get(id: string): Promise<Teacher>;
  upload(upload: TeacherUpload, by: string): Promise<Teacher>;
}

export interface PackageCatalog {
  list(): Promise<ModelPackage[]>;
  get(id: string): Promise<ModelPackage>;
}

export interface FleetPort {
  listDevices(): Promise<Device[]>;
  getDevice(id: string): Promise<Device>;
  listRollouts(): Promise<Rollout[]>;
  getRollout(id: string): Promise<Rollout>;
  createRollout(request: RolloutCreate, by: string): Promise<Rollout>;
  pauseRollout(id: string, by: string): Promise<Rollout>;
  resumeRollout(id: string, by: string): Promise<Rollout>;
  abortRollout(id: string, reason: string, by: string): Promise<Rollout>;
}

export interface DriftPort {
  devices(): Promise<DriftRecord[]>;
  device(id: string): Promise<DriftRecord>;
  cohorts(): Promise<DriftRecord[]>;
  alarms(): Promise<DriftRecord[]>;
}

export interface RetrainPort {
  getPolicy(): Promise<Record<string, unknown>>;
  setPolicy(policy: RetrainPolicyUpdate, by: string): Promise<Record<string, unknown>>;
  /** Automatic retrains: which alarm triggered which run and which package, with reasons. */
  history(): Promise<DriftRecord[]>;
}

/** Provisioning (add, list, revoke, rotate devices): `cloud/fleet/registry/device-admin.ts`. */
export type DeviceAdminPort = DeviceAdmin;

export interface ApiDeps {
  readonly jobs: JobRunner;
  readonly teachers?: TeacherCatalog;
  readonly packages?: PackageCatalog;
  readonly fleet?: FleetPort;
  readonly devices?: DeviceAdminPort;
  readonly drift?: DriftPort;
  readonly retrain?: RetrainPort;
  readonly tokens: readonly ApiToken[];
}

export interface ApiOptions {
  /** Folder of the console's static files; omitted: no console. */
  readonly consoleDir?: string;
  /** Requests per token (or IP) per minute on /api. */
  readonly rateLimitPerMinute?: number;
  readonly version?: string;
  readonly logLevel?: string;
  /** Where the API's JSON log lines go (default stdout); tests capture them. */
  readonly logStream?: NodeJS.WritableStream;
  /** Largest request body on control routes (default 64 KiB). */
  readonly bodyLimitBytes?: number;
  /** Largest request body on upload routes (teacher uploads are base64 JSON; default 64 MiB). */
  readonly uploadBodyLimitBytes?: number;
  readonly sseHeartbeatMs?: number;
  /** Extra plugins (for example the fleet's HTTP model download route). */
  readonly plugins?: ReadonlyArray<import('fastify').FastifyPluginAsync>;
}
