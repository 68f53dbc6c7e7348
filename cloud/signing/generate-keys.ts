import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseJson } from '../../shared/contracts/parse';
import { EdgekdError } from '../../shared/errors';
import { generateSigningKey, type KeyId } from '../../shared/package/keys';
import { parseTrustedKeys, trustedKeyEntry, type TrustedKeys } from '../../shared/package/trusted-keys';

export interface GenerateKeysOptions {
  /** The key folder; created if missing. */
  readonly dir: string;
  /** Replace signing-key.json without keeping the old one as signing-key.<keyId>.json. */
  readonly force?: boolean;
  /** Creation time of the key and the switch-over time of a rotation. */
  readonly now?: Date;
}

export interface GeneratedKeys {
  readonly keyId: KeyId;
  /** signing-key.json: the private key (mode 0600). */
  readonly keyFile: string;
  /** public-key.json: this key as a trusted-keys entry. */
  readonly publicKeyFile: string;
  /** trusted-keys.json: the list to give to agents and `edgekd package verify`. */
  readonly trustedKeysFile: string;
  readonly trustedKeys: TrustedKeys;
  /** The id of the key a rotation moved aside, when there was one and `force` was not set. */
  readonly rotatedKeyId: string | null;
}

function writeAtomic(path: string, text: string, mode?: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, mode === undefined ? undefined : { mode });
  renameSync(tmp, path);
}

/**
 * A new Ed25519 package-signing key in `dir` (`edgekd keys generate`, and `startCloud` on its
 * first start). Rotation: when `dir` already has trusted-keys.json the new key is appended
 * (validFrom now) and every earlier key without an end gets validUntil now, so the packages they
 * signed before stay valid; an existing signing-key.json is kept as signing-key.<keyId>.json.
 * A signing-key.json that is not a key file is refused (EDGEKD_INVALID_ARGUMENT) rather than
 * overwritten, unless `force`.
 */
export function generateKeys(o: GenerateKeysOptions): GeneratedKeys {
  const now = o.now ?? new Date();
  mkdirSync(o.dir, { recursive: true });
  const keyFile = join(o.dir, 'signing-key.json');
  let rotatedKeyId: string | null = null;
  if (existsSync(keyFile) && !o.force) {
    const old = parseJson(readFileSync(keyFile), keyFile, 'EDGEKD_INVALID_ARGUMENT') as { keyId?: unknown };
    if (typeof old.keyId !== 'string' || !/^[0-9a-f]{16}$/.test(old.keyId)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `${keyFile} exists and is not a signing key file; move it away or pass --force`);
    rotatedKeyId = old.keyId;
    renameSync(keyFile, join(o.dir, `signing-key.${old.keyId}.json`));
  }
  const { key, file } = generateSigningKey(now);
  writeAtomic(keyFile, `${JSON.stringify(file, null, 2)}\n`, 0o600);
  const entry = trustedKeyEntry(key.publicKeyRaw, { validFrom: now.toISOString() });
  const publicKeyFile = join(o.dir, 'public-key.json');
  writeAtomic(publicKeyFile, `${JSON.stringify(entry, null, 2)}\n`);
  const trustedKeysFile = join(o.dir, 'trusted-keys.json');
  let list: TrustedKeys = { schemaVersion: 1, keys: [] };
  if (existsSync(trustedKeysFile)) list = parseTrustedKeys(parseJson(readFileSync(trustedKeysFile), trustedKeysFile, 'EDGEKD_CONFIG_INVALID'));
  list = { schemaVersion: 1, keys: [...list.keys.map((k) => (k.validUntil || k.revoked ? k : { ...k, validUntil: now.toISOString() })), entry] };
  writeAtomic(trustedKeysFile, `${JSON.stringify(list, null, 2)}\n`);
  return { keyId: key.keyId, keyFile, publicKeyFile, trustedKeysFile, trustedKeys: list, rotatedKeyId };
}
