import type { ErrorCode } from '../../../shared/errors';
import type { ChunkRequest, ChunkResponse } from '../../../shared/protocol/messages/chunk';
import type { ChunkPlan } from './chunk-plan';
import { DownloadAdmission } from './download-admission';
import type { TokenBucket } from './token-bucket';

/** What a deployment downloads: its chunk plan, the bytes, and the rollout's bandwidth bucket. */
export interface ChunkSource {
  readonly plan: ChunkPlan;
  readonly bytes: Uint8Array;
  readonly bucket: TokenBucket | null;
}

/** A refusal the device gets as a chunk response with an error. */
export interface ChunkRefusal {
  readonly code: ErrorCode;
  readonly message: string;
}

export interface ChunkServerDeps {
  readonly now: () => number;
  /** The source for an active deployment of this device that may download now, or why not. */
  readonly lookup: (deviceId: string, req: ChunkRequest) => ChunkSource | ChunkRefusal;
  readonly reply: (deviceId: string, response: ChunkResponse) => void;
  /** A parked request that failed when it was finally served (nothing else reports it). */
  readonly onParkedError: (deviceId: string, e: unknown) => void;
  /** Deployments downloading at once (default 500) and the package bytes they hold together (64 MiB). */
  readonly maxConcurrentDownloads?: number;
  readonly maxDownloadBytesInFlight?: number;
  /** A chunk served to a deployment is not served again within this window (default 8 s). */
  readonly chunkResendAfterMs?: number;
}

export interface ChunkServerCounters {
  chunksServed: number;
  chunkBytesServed: number;
  /** Not answered: the same chunk went to that deployment moments ago. */
  chunkRequestsSuppressed: number;
  /** Answered EDGEKD_RATE_LIMITED (the rollout's bandwidth cap). */
  chunkRequestsDeferred: number;
  /** Parked until a download slot freed. */
  chunkRequestsQueued: number;
}

export interface ChunkServer {
  /** Answers a chunk request now, parks it for a slot, or drops it as a duplicate. Throws only on a bug. */
  request(deviceId: string, req: ChunkRequest): void;
  /** The deployment stopped downloading (any later step, or an end): frees its slot and serves who waits. */
  release(deploymentId: string): void;
  /** Frees slots of holders silent too long; called on the controller's tick. */
  expireIdle(): void;
  counters(): ChunkServerCounters;
}

/**
 * MQTT model delivery, the cloud's half: devices pull chunks, this answers. Invariants:
 * - a request is answered only for the device's own active deployment, with the bytes of the plan
 *   the offer announced (other hashes or indexes get a typed refusal);
 * - at most `maxConcurrentDownloads` deployments (and `maxDownloadBytesInFlight` package bytes)
 *   download at once; the others' requests wait in arrival order (DownloadAdmission);
 * - a chunk is not sent twice to a deployment within `chunkResendAfterMs`: the first answer is
 *   still on its way and the protocol lets the device accept it late;
 * - a rollout's bandwidth cap is a token bucket: over it, the device is told when to ask again.
 */
export function createChunkServer(deps: ChunkServerDeps): ChunkServer {
  const resendAfter = deps.chunkResendAfterMs ?? 8_000;
  const admission = new DownloadAdmission<{ deviceId: string; req: ChunkRequest }>(deps.maxConcurrentDownloads ?? 500, deps.maxDownloadBytesInFlight ?? 64 * 2 ** 20);
  /** deploymentId → chunk index → when that chunk was last served. */
  const served = new Map<string, Map<number, number>>();
  const c: ChunkServerCounters = { chunksServed: 0, chunkBytesServed: 0, chunkRequestsSuppressed: 0, chunkRequestsDeferred: 0, chunkRequestsQueued: 0 };

  function serveAdmitted(reqs: Array<{ deviceId: string; req: ChunkRequest }>): void {
    for (const { deviceId, req } of reqs) {
      try {
        request(deviceId, req);
      } catch (e) {
        deps.onParkedError(deviceId, e);
      }
    }
  }

  function request(deviceId: string, req: ChunkRequest): void {
    const header = { schema: 'edgekd.chunk/1' as const, requestId: req.requestId, deploymentId: req.deploymentId, sha256: req.sha256, index: req.index, offset: 0 };
    const fail = (code: ErrorCode, message: string, retryAfterMs?: number): void =>
      deps.reply(deviceId, { header: { ...header, error: { code, message }, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) }, data: new Uint8Array(0) });
    const src = deps.lookup(deviceId, req);
    if ('code' in src) return fail(src.code, src.message);
    const { plan, bytes } = src;
    if (req.sha256 !== plan.sha256) return fail('EDGEKD_NOT_FOUND', `deployment ${req.deploymentId} delivers ${plan.sha256}, not ${req.sha256}`);
    if (req.index >= plan.chunkSha256.length) return fail('EDGEKD_INVALID_ARGUMENT', `chunk ${req.index} is past the last chunk (${plan.chunkSha256.length - 1})`);
    const t = deps.now();
    const last = served.get(req.deploymentId)?.get(req.index);
    if (last !== undefined && t - last < resendAfter) {
      c.chunkRequestsSuppressed++;
      return;
    }
    if (!admission.admit(req.deploymentId, req.index, { deviceId, req }, t, plan.sizeBytes)) {
      c.chunkRequestsQueued++;
      return; // answered when a slot frees
    }
    const offset = req.index * plan.chunkBytes;
    const data = bytes.subarray(offset, Math.min(bytes.length, offset + plan.chunkBytes));
    const wait = src.bucket?.take(data.length, t) ?? 0;
    if (wait > 0) {
      c.chunkRequestsDeferred++;
      return fail('EDGEKD_RATE_LIMITED', 'rollout bandwidth cap reached', wait);
    }
    admission.touch(req.deploymentId, t);
    const perDeployment = served.get(req.deploymentId) ?? new Map<number, number>();
    perDeployment.set(req.index, t);
    served.set(req.deploymentId, perDeployment);
    c.chunksServed++;
    c.chunkBytesServed += data.length;
    deps.reply(deviceId, { header: { ...header, offset, chunkSha256: plan.chunkSha256[req.index]! }, data });
  }

  return {
    request,
    release(deploymentId) {
      served.delete(deploymentId);
      serveAdmitted(admission.release(deploymentId, deps.now()));
    },
    expireIdle() {
      // A holder silent for 3 s while others wait (device gone, or done and slow to say so) gives
      // up its slot; with nobody waiting only an abandoned one (60 s) does.
      serveAdmitted(admission.expireIdle(deps.now(), admission.queued > 0 ? 3_000 : 60_000));
    },
    counters: () => ({ ...c }),
  };
}
