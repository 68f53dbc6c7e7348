import { parseCommandArgs } from '../../shared/cli/args';
import { EdgekdError } from '../../shared/errors';
import { readTrustedKeysFile } from '../../shared/package/key-files';
import { verifyPackagePath } from '../../shared/package/verify-package-path';

const HELP = `usage: edgekd package verify PATH [--trusted-keys FILE] [--json]

Checks a model package (a directory with model.onnx, manifest.json, manifest.sig, or a single
.ekpkg file): manifest schema, signature document, signing key trust (listed, not revoked,
inside its validity window), Ed25519 signature over the canonical manifest, model size and sha256.
Prints every check; exits 0 only when all pass, otherwise prints the first failure's code.

  --trusted-keys FILE   trusted-keys list (default: $EDGEKD_TRUSTED_KEYS)
  --json                print the checks as JSON`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseCommandArgs(argv, { 'trusted-keys': { type: 'string' }, json: { type: 'boolean' } }, HELP);
  if (help) return 0;
  const path = positionals[0];
  if (!path) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `missing PATH\n\n${HELP}`);
  const keysPath = values['trusted-keys'] ?? process.env.EDGEKD_TRUSTED_KEYS;
  if (!keysPath) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'no trusted-keys list: pass --trusted-keys FILE or set EDGEKD_TRUSTED_KEYS');
  const r = await verifyPackagePath(path, readTrustedKeysFile(keysPath));
  if (values.json) console.log(JSON.stringify({ ok: r.ok, ...(r.ok ? { keyId: r.keyId } : { code: r.code, failed: r.failed }), checks: r.checks }, null, 2));
  else for (const c of r.checks) console.log(`${!c.ran ? '-' : c.ok ? '✓' : '✗'} ${c.check.padEnd(16)} ${c.message}`);
  if (!r.ok) throw r.error;
  console.log(`package ${r.manifest.name} v${r.manifest.version} verified (key ${r.keyId})`);
  return 0;
}
