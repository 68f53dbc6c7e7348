import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Short-lived bearer tokens for the HTTP download: `<deploymentId b64url>.<expiry ms>.<hmac>`,
 * HMAC-SHA256 under the store's download secret (`FleetStore.downloadSecret`), the same for every
 * cloud process on the store and across restarts, so any process can check a token the fleet
 * leader put in an offer.
 */
export function issueDownloadToken(secret: Buffer, deploymentId: string, expiresAt: number): string {
  const id = Buffer.from(deploymentId, 'utf8').toString('base64url');
  const mac = createHmac('sha256', secret).update(`${id}.${expiresAt}`).digest('base64url');
  return `${id}.${expiresAt}.${mac}`;
}

export type TokenCheck = { ok: true; deploymentId: string } | { ok: false; reason: string };

export function checkDownloadToken(secret: Buffer, token: string, now: number): TokenCheck {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'malformed token' };
  const [id, exp, mac] = parts as [string, string, string];
  const want = createHmac('sha256', secret).update(`${id}.${exp}`).digest();
  const got = Buffer.from(mac, 'base64url');
  if (got.length !== want.length || !timingSafeEqual(got, want)) return { ok: false, reason: 'bad token signature' };
  if (!(Number(exp) > now)) return { ok: false, reason: 'token expired' };
  return { ok: true, deploymentId: Buffer.from(id, 'base64url').toString('utf8') };
}
