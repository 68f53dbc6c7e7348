import type { FastifyPluginAsync } from 'fastify';
import { parseDeploymentId } from '../deployment-id';
import type { RolloutState } from '../rollout/rollout-engine';
import type { FleetStore, PackageRecord } from '../store/fleet-store';
import { fleetDownloadPlugin, type DownloadTarget } from './http-download';
import { TokenBucket } from './token-bucket';

export interface StoredDownloadOptions {
  readonly store: FleetStore;
  readonly now: () => number;
  /** How long a rollout snapshot read from the store answers further requests (default 500 ms). */
  readonly cacheMs?: number;
}

/**
 * States in which a deployment's file may be fetched, judged on the stored snapshot. `queued` is
 * included because the snapshot is written up to one snapshot period after the offer is sent: a
 * device that fetches at once may find its deployment still `queued` there. The token (made only
 * when the leader builds the offer, bound to the deployment and an expiry) is what proves it was
 * offered; the state only stops downloads of deployments that have ended.
 */
const FETCHABLE = new Set(['queued', 'offered', 'in_progress']);

/**
 * The deployment → file lookup of the HTTP download route, on any cloud process: from the rollout
 * snapshots and package rows every process shares, and the bytes read by range from the artifact
 * store (or, for a package row not moved there yet, its blob). The rollout's bandwidth cap is
 * applied per serving process (each keeps its own bucket per rollout).
 */
export function storedDownloadResolver(o: StoredDownloadOptions): (deploymentId: string) => Promise<DownloadTarget | null> {
  const cacheMs = o.cacheMs ?? 500;
  const rollouts = new Map<string, { at: number; state: Promise<RolloutState | null> }>();
  const buckets = new Map<string, TokenBucket>();
  const packages = new Map<string, Promise<{ record: PackageRecord; artifact: string | null }>>();

  const rolloutState = (id: string): Promise<RolloutState | null> => {
    const hit = rollouts.get(id);
    if (hit && o.now() - hit.at < cacheMs) return hit.state;
    const state = o.store.getRollout(id);
    rollouts.set(id, { at: o.now(), state });
    if (rollouts.size > 1000) rollouts.delete(rollouts.keys().next().value!);
    return state;
  };

  const packageOf = (packageId: string): Promise<{ record: PackageRecord; artifact: string | null } | null> => {
    let p = packages.get(packageId);
    if (!p) {
      // A registered package never changes (a new version is a new id), so it is cached for good.
      p = (async () => {
        const record = await o.store.getPackage(packageId);
        if (!record) throw new Error('unknown package');
        return { record, artifact: await o.store.packageArtifact(packageId) };
      })();
      packages.set(packageId, p);
      p.catch(() => packages.delete(packageId));
    }
    return p.catch(() => null);
  };

  return async (deploymentId) => {
    const parsed = parseDeploymentId(deploymentId);
    if (!parsed) return null;
    const state = await rolloutState(parsed.rolloutId);
    const d = state?.devices[parsed.deviceId];
    if (!state || !d || !FETCHABLE.has(d.state)) return null;
    const pkg = await packageOf(state.spec.packageId);
    if (!pkg) return null;
    let bucket: TokenBucket | null = null;
    const rate = state.spec.bandwidthBytesPerSecond;
    if (rate > 0) {
      bucket = buckets.get(state.id) ?? new TokenBucket(rate, rate, o.now());
      buckets.set(state.id, bucket);
    }
    const sha256 = pkg.record.sha256;
    const artifacts = o.store.artifacts;
    if (pkg.artifact && artifacts) {
      const address = pkg.artifact;
      const ref = await artifacts.stat(address);
      if (!ref) return null;
      return { sizeBytes: ref.sizeBytes, sha256, bucket, read: (start, end) => artifacts.read(address, { start, end }) };
    }
    const bytes = await o.store.getPackageBytes(state.spec.packageId);
    if (!bytes) return null;
    return { sizeBytes: bytes.length, sha256, bucket, read: async (start, end) => bytes.subarray(start, end) };
  };
}

/**
 * `GET /v1/fleet/downloads/:deploymentId` served from the shared store, for processes that do not
 * drive the rollout (split roles): same token check (the store's shared download secret), ranges
 * and errors as the controller's own route.
 */
export function storedDownloadPlugin(o: StoredDownloadOptions): FastifyPluginAsync {
  return async (app) => {
    await app.register(fleetDownloadPlugin, { secret: await o.store.downloadSecret(o.now()), now: o.now, resolve: storedDownloadResolver(o) });
  };
}
