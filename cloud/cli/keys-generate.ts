import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { parseJson } from '../../shared/contracts/parse';
import { EdgekdError } from '../../shared/errors';
import { generateSigningKey } from '../../shared/package/keys';
import { parseTrustedKeys, trustedKeyEntry, type TrustedKeys } from '../../shared/package/trusted-keys';

const HELP = `usage: edgekd keys generate --out DIR [--force]

Generates an Ed25519 signing key for model packages and writes, in DIR:
  signing-key.json   the private key (mode 0600; keep it on the signing host only)
  public-key.json    this key as a trusted-keys entry
  trusted-keys.json  the trusted-keys list to give to agents and \`edgekd package verify\`

Rotation: when DIR already has trusted-keys.json, the new key is appended (validFrom now) and
every earlier key without an end gets validUntil now, so packages they signed before stay valid.
An existing signing-key.json is kept as signing-key.<keyId>.json.

  --force   replace signing-key.json without keeping the old one`;

function writeAtomic(path: string, text: string, mode?: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, mode === undefined ? undefined : { mode });
  renameSync(tmp, path);
}

export async function run(argv: string[], now: Date = new Date()): Promise<number> {
  const { values, help } = parseCommandArgs(argv, { out: { type: 'string' }, force: { type: 'boolean' } }, HELP);
  if (help) return 0;
  const dir = requireFlag(values.out, 'out');
  mkdirSync(dir, { recursive: true });
  const keyPath = join(dir, 'signing-key.json');
  if (existsSync(keyPath) && !values.force) {
    const old = parseJson(readFileSync(keyPath), keyPath, 'EDGEKD_INVALID_ARGUMENT') as { keyId?: unknown };
    if (typeof old.keyId !== 'string') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `${keyPath} exists and is not a signing key file; move it away or pass --force`);
    renameSync(keyPath, join(dir, `signing-key.${old.keyId}.json`));
  }
  const { key, file } = generateSigningKey(now);
  writeAtomic(keyPath, `${JSON.stringify(file, null, 2)}\n`, 0o600);
  const entry = trustedKeyEntry(key.publicKeyRaw, { validFrom: now.toISOString() });
  writeAtomic(join(dir, 'public-key.json'), `${JSON.stringify(entry, null, 2)}\n`);
  const listPath = join(dir, 'trusted-keys.json');
  let list: TrustedKeys = { schemaVersion: 1, keys: [] };
  if (existsSync(listPath)) list = parseTrustedKeys(parseJson(readFileSync(listPath), listPath, 'EDGEKD_CONFIG_INVALID'));
  list = { schemaVersion: 1, keys: [...list.keys.map((k) => (k.validUntil || k.revoked ? k : { ...k, validUntil: now.toISOString() })), entry] };
  writeAtomic(listPath, `${JSON.stringify(list, null, 2)}\n`);
  console.log(`key ${key.keyId} written to ${keyPath}; trusted-keys list ${listPath} has ${list.keys.length} key(s)`);
  return 0;
}
