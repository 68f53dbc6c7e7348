import { parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { generateKeys } from '../signing/generate-keys';

const HELP = `usage: edgekd keys generate --out DIR [--force]

Generates an Ed25519 signing key for model packages and writes, in DIR:
  signing-key.json   the private key (mode 0600; keep it on the signing host only)
  public-key.json    this key as a trusted-keys entry
  trusted-keys.json  the trusted-keys list to give to agents and \`edgekd package verify\`

Rotation: when DIR already has trusted-keys.json, the new key is appended (validFrom now) and
every earlier key without an end gets validUntil now, so packages they signed before stay valid.
An existing signing-key.json is kept as signing-key.<keyId>.json.

  --force   replace signing-key.json without keeping the old one`;

export async function run(argv: string[], now: Date = new Date()): Promise<number> {
  const { values, help } = parseCommandArgs(argv, { out: { type: 'string' }, force: { type: 'boolean' } }, HELP);
  if (help) return 0;
  const r = generateKeys({ dir: requireFlag(values.out, 'out'), force: values.force === true, now });
  console.log(`key ${r.keyId} written to ${r.keyFile}; trusted-keys list ${r.trustedKeysFile} has ${r.trustedKeys.keys.length} key(s)`);
  return 0;
}
