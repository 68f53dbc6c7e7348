import { EdgekdError } from '../../../shared/errors';
import type { RollbackCommand } from '../../../shared/protocol/messages/command';
import type { Offer } from '../../../shared/protocol/messages/offer';
import type { ChunkPlan } from '../delivery/chunk-plan';
import { issueDownloadToken } from '../delivery/download-token';
import { downloadPath } from '../delivery/http-download';
import { deploymentIdOf } from '../deployment-id';
import type { PackageRecord } from '../store/fleet-store';
import type { RolloutState } from './rollout-engine';

export interface OfferContext {
  readonly now: number;
  /** Base URL of the HTTP download route; required when the rollout delivers over HTTP. */
  readonly httpBaseUrl: string | undefined;
  /** Key of the download tokens and their lifetime. */
  readonly tokenSecret: Buffer;
  readonly tokenTtlMs: number;
}

/**
 * The offer a device gets for its deployment in a rollout: the signed manifest as registered, the
 * chunk plan of the stored bytes (announcing the manifest's hash, so tampered storage is refused
 * by the device), its wave, and what the rollout asks of activation. Throws EDGEKD_INVALID_ARGUMENT
 * for HTTP delivery without a base URL.
 */
export function buildOffer(s: RolloutState, deviceId: string, pkg: { record: PackageRecord; plan: ChunkPlan }, ctx: OfferContext): Offer {
  const d = s.devices[deviceId];
  if (!d) throw new EdgekdError('EDGEKD_NOT_FOUND', `device '${deviceId}' is not in rollout ${s.id}`);
  const deploymentId = deploymentIdOf(s.id, deviceId);
  const { record, plan } = pkg;
  const manifest = record.manifest as { name: string; version: number };
  const offer: Offer = {
    schema: 'edgekd.offer/1',
    deploymentId,
    rolloutId: s.id,
    wave: d.wave === 0 && s.spec.waves.canaryDevices > 0 ? 'canary' : `wave-${d.wave}`,
    issuedAt: new Date(d.offeredAt ?? ctx.now).toISOString(),
    model: { name: manifest.name, version: manifest.version, sha256: plan.sha256 },
    manifest: record.manifest,
    signature: record.signature as Offer['signature'],
    delivery: { sizeBytes: plan.sizeBytes, sha256: plan.sha256, chunkBytes: plan.chunkBytes, chunkSha256: plan.chunkSha256, prefer: s.spec.delivery },
  };
  if (s.spec.delivery === 'http') {
    if (!ctx.httpBaseUrl) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'HTTP delivery needs httpBaseUrl or listenHttp()');
    const expiresAt = ctx.now + ctx.tokenTtlMs;
    offer.delivery.http = { url: `${ctx.httpBaseUrl}${downloadPath(deploymentId)}`, token: issueDownloadToken(ctx.tokenSecret, deploymentId, expiresAt), expiresAt: new Date(expiresAt).toISOString() };
  }
  if (s.spec.activation) offer.activation = s.spec.activation;
  if (s.spec.deviceTimeoutsMs) offer.timeoutsMs = s.spec.deviceTimeoutsMs;
  if (s.spec.allowDowngrade) offer.allowDowngrade = true;
  if (s.spec.downgrade) offer.downgrade = s.spec.downgrade;
  return offer;
}

/** The rollback command for a device's deployment (idempotent: one command id per deployment). */
export function rollbackCommand(rolloutId: string, deviceId: string, reason: string, now: number): RollbackCommand {
  const deploymentId = deploymentIdOf(rolloutId, deviceId);
  return { schema: 'edgekd.command/1', type: 'rollback', commandId: `${deploymentId}:rollback`, issuedAt: new Date(now).toISOString(), deploymentId, reason: reason.slice(0, 500) };
}
