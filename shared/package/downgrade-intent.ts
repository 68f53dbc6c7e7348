import { sign, verify } from 'node:crypto';
import { createParser } from '../contracts/parse';
import { EdgekdError } from '../errors';
import { DowngradeStatement, SignedDowngrade } from '../protocol/messages/downgrade';
import { canonicalJson } from './canonical-json';
import { publicKeyFromRaw, type SigningKey } from './keys';
import { keyTrust, type TrustedKeys } from './trusted-keys';

/**
 * Sign and check downgrade statements (shared/protocol/messages/downgrade.ts). The signed bytes are
 * "edgekd-downgrade-v1\n" + canonicalJson(statement): the same canonical encoding and Ed25519 keys
 * as manifests, with its own context line so neither signature can be replayed as the other.
 */
export const DOWNGRADE_CONTEXT = 'edgekd-downgrade-v1\n';

const statementParser = createParser(DowngradeStatement, 'downgrade statement', 'EDGEKD_INVALID_ARGUMENT');
const signedParser = createParser(SignedDowngrade, 'signed downgrade statement', 'EDGEKD_DOWNGRADE_UNAUTHORIZED');

const bytesOf = (statement: unknown): Buffer => Buffer.from(DOWNGRADE_CONTEXT + canonicalJson(statement), 'utf8');

export interface DowngradeRequest {
  model: { name: string; version: number; sha256: string };
  devices?: string[];
  groups?: string[];
  /** How long the statement stays valid from `now`. */
  validForMs: number;
  reason?: string;
  now?: Date;
}

/** The operator's side: a statement for one build and its audience, signed with a trusted key. */
export function signDowngrade(req: DowngradeRequest, key: SigningKey): SignedDowngrade {
  const now = req.now ?? new Date();
  if (!((req.devices?.length ?? 0) + (req.groups?.length ?? 0))) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'a downgrade statement names at least one device or group');
  if (!(req.validForMs > 0)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'a downgrade statement needs a positive validity');
  const statement = statementParser.parse({
    schema: 'edgekd.downgrade/1',
    model: req.model,
    ...(req.devices?.length ? { devices: [...new Set(req.devices)].sort() } : {}),
    ...(req.groups?.length ? { groups: [...new Set(req.groups)].sort() } : {}),
    issuedAt: now.toISOString(),
    notAfter: new Date(now.getTime() + req.validForMs).toISOString(),
    ...(req.reason ? { reason: req.reason } : {}),
  });
  return { statement, signature: { algorithm: 'Ed25519', keyId: key.keyId, signature: sign(null, bytesOf(statement), key.privateKey).toString('base64') } };
}

export interface DowngradeAudience {
  deviceId: string;
  groups: readonly string[];
  model: { name: string; version: number; sha256: string };
  trustedKeys: TrustedKeys;
  now: Date;
}

/**
 * The device's side: throws EDGEKD_DOWNGRADE_UNAUTHORIZED (saying which check failed) unless the
 * statement is well-formed, signed by a key trusted at its issue time, for exactly this build,
 * names this device or one of its groups, and is valid now.
 */
export function checkDowngrade(input: unknown, a: DowngradeAudience): void {
  const deny = (why: string): never => {
    throw new EdgekdError('EDGEKD_DOWNGRADE_UNAUTHORIZED', `downgrade to ${a.model.name} ${a.model.version} refused: ${why}`);
  };
  if (input === undefined || input === null) deny('the offer allows a downgrade but carries no signed statement');
  const { statement: s, signature } = signedParser.parse(input);
  const issued = new Date(s.issuedAt);
  const trust = keyTrust(a.trustedKeys, signature.keyId, issued, a.now);
  if (!trust.trusted) return deny(`the statement's key is not trusted (${trust.reason})`);
  const sig = Buffer.from(signature.signature, 'base64');
  let ok = false;
  try {
    ok = sig.length === 64 && verify(null, bytesOf(s), publicKeyFromRaw(new Uint8Array(Buffer.from(trust.key.publicKey, 'base64'))), sig);
  } catch {
    ok = false;
  }
  if (!ok) deny('the statement signature does not verify');
  if (s.model.name !== a.model.name || s.model.version !== a.model.version || s.model.sha256 !== a.model.sha256) deny(`the statement is for ${s.model.name} ${s.model.version} (${s.model.sha256.slice(0, 12)}…)`);
  if (!(s.devices ?? []).includes(a.deviceId) && !(s.groups ?? []).some((g) => a.groups.includes(g))) deny(`the statement does not name device '${a.deviceId}' or one of its groups`);
  if (a.now.getTime() >= new Date(s.notAfter).getTime()) deny(`the statement expired at ${s.notAfter}`);
  if (issued.getTime() > a.now.getTime() + 5 * 60_000) deny(`the statement is issued in the future (${s.issuedAt})`);
}
