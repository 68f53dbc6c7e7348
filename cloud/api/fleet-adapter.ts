import { EdgekdError } from '../../shared/errors';
import type { FleetController } from '../fleet/fleet-controller';
import type { RolloutRequest } from '../fleet/rollout/rollout-spec';
import type { PackageRecord } from '../fleet/store/fleet-store';
import type { FleetPort, PackageCatalog } from './ports';
import type { Device, ModelPackage, Rollout } from './schemas';

type Rec = Record<string, unknown>;

/** The part of a fleet controller the API routes use; a split-role process gives a store-backed one (cloud/scale/fleet-view.ts). */
export type FleetSource = Pick<FleetController, 'listDevices' | 'getDevice' | 'getRollout' | 'getRolloutState' | 'listRollouts' | 'listPackages' | 'createRollout' | 'pauseRollout' | 'resumeRollout' | 'abortRollout'>;
const obj = (v: unknown): Rec => (v && typeof v === 'object' ? (v as Rec) : {});

/** The fleet controller's device record as the API shows it. */
function toDevice(d: Awaited<ReturnType<FleetController['listDevices']>>[number]): Device {
  const hb = obj(d.heartbeat);
  const model = obj(hb.activeModel ?? d.activeModel);
  const deployment = obj(hb.deployment);
  const online = d.presence === 'online';
  const state = d.revokedAt !== null ? 'revoked' : !online ? d.presence : typeof deployment.state === 'string' ? deployment.state : model.version !== undefined ? 'serving' : 'no-model';
  return {
    id: d.deviceId,
    online,
    state,
    modelVersion: typeof model.version === 'number' || typeof model.version === 'string' ? model.version : null,
    modelName: typeof model.name === 'string' ? model.name : null,
    executionProvider: typeof hb.executionProvider === 'string' ? hb.executionProvider : null,
    lastSeen: d.lastSeen,
    agentVersion: d.agentVersion,
    groups: d.groups,
    tags: d.tags,
    presence: d.presence,
    createdAt: d.createdAt,
    revokedAt: d.revokedAt,
    inference: hb.inference ?? null,
    uptimeSec: hb.uptimeSec ?? null,
  };
}

export function fleetPortOf(fleet: FleetSource): FleetPort {
  const full = async (id: string): Promise<Rollout> => {
    const summary = await fleet.getRollout(id);
    const state = await fleet.getRolloutState(id);
    if (!summary || !state) throw new EdgekdError('EDGEKD_NOT_FOUND', `no rollout ${id}`);
    return {
      ...summary,
      deviceCount: summary.devices,
      devices: state.devices,
      spec: state.spec,
      rollbackReason: state.rollbackReason ?? null,
      waves: state.waves.map((w) => ({ ...summary.waves.find((s) => s.index === w.index), ...w })),
    };
  };
  return {
    listDevices: async () => (await fleet.listDevices()).map(toDevice),
    async getDevice(id) {
      const d = await fleet.getDevice(id);
      if (!d) throw new EdgekdError('EDGEKD_UNKNOWN_DEVICE', `no device ${id}`);
      return toDevice(d);
    },
    listRollouts: async () => (await fleet.listRollouts()).map((r) => ({ ...r, deviceCount: r.devices }) as Rollout).sort((a, b) => b.createdAt - a.createdAt),
    getRollout: full,
    async createRollout(req) {
      const r = await fleet.createRollout(req as RolloutRequest);
      return full(r.id);
    },
    async pauseRollout(id) {
      await fleet.pauseRollout(id);
      return full(id);
    },
    async resumeRollout(id) {
      await fleet.resumeRollout(id);
      return full(id);
    },
    async abortRollout(id, reason) {
      await fleet.abortRollout(id, reason);
      return full(id);
    },
  };
}

/** Package → the run job it was exported from, looked up from the job its manifest names. */
export type RunOfPackage = (pkg: PackageRecord) => Promise<string | null>;

function toPackage(p: PackageRecord, all: readonly PackageRecord[], runOf: string | null): ModelPackage {
  const m = obj(p.manifest);
  const lineage = obj(m.lineage);
  const parent = obj(lineage.parent);
  const parentRec = all.find((q) => q.name === parent.name && q.version === parent.version && q.sha256 === parent.sha256);
  return {
    id: p.packageId,
    name: p.name,
    version: p.version,
    sha256: p.sha256,
    bytes: p.sizeBytes,
    precision: String(obj(m.quantization).precision ?? 'unknown'),
    createdAt: p.createdAt,
    runId: runOf,
    distillationRunId: typeof lineage.distillationRunId === 'string' ? lineage.distillationRunId : null,
    teacherId: typeof lineage.teacherName === 'string' ? lineage.teacherName : null,
    parentId: parentRec?.packageId ?? null,
    metrics: obj(m.metrics),
    lineage,
    calibration: obj(m.quantization).calibration ?? null,
  };
}

/** Packages are what the fleet controller has registered (signed, verified on registration). */
export function packageCatalogOf(fleet: Pick<FleetSource, 'listPackages'>, runOf: RunOfPackage = async () => null): PackageCatalog {
  return {
    async list() {
      const all = await fleet.listPackages();
      const out = await Promise.all(all.map(async (p) => toPackage(p, all, await runOf(p))));
      return out.sort((a, b) => b.createdAt - a.createdAt);
    },
    async get(id) {
      const all = await fleet.listPackages();
      const p = all.find((q) => q.packageId === id);
      if (!p) throw new EdgekdError('EDGEKD_NOT_FOUND', `no package ${id}`);
      return toPackage(p, all, await runOf(p));
    },
  };
}
