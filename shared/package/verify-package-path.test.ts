import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readSigningKeyFile, readTrustedKeysFile } from './key-files';
import { generateSigningKey } from './keys';
import { writePackageDir } from './package-dir';
import { encodePackageFile } from './package-file';
import { buildFixturePackage } from './testing/tiny-models';
import { verifyPackagePath } from './verify-package-path';

const dir = mkdtempSync(join(tmpdir(), 'edgekd-verify-path-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('verifyPackagePath', () => {
  it('verifies the directory form and the single-file form alike, and lists the failed check after tampering', async () => {
    const f = buildFixturePackage({ kind: 'mlp' });
    await writePackageDir(join(dir, 'pkg'), f.pkg);
    writeFileSync(join(dir, 'pkg.ekpkg'), encodePackageFile(f.pkg));
    expect(await verifyPackagePath(join(dir, 'pkg'), f.trustedKeys)).toMatchObject({ ok: true, keyId: f.key.keyId });
    expect(await verifyPackagePath(join(dir, 'pkg.ekpkg'), f.trustedKeys)).toMatchObject({ ok: true, keyId: f.key.keyId });
    const model = readFileSync(join(dir, 'pkg', 'model.onnx'));
    model[10] ^= 0xff;
    writeFileSync(join(dir, 'pkg', 'model.onnx'), model);
    expect(await verifyPackagePath(join(dir, 'pkg'), f.trustedKeys)).toMatchObject({ ok: false, code: 'EDGEKD_HASH_MISMATCH', failed: 'model-sha256' });
    await expect(verifyPackagePath(join(dir, 'absent'), f.trustedKeys)).rejects.toMatchObject({ code: 'EDGEKD_PACKAGE_INVALID' });
  });
});

describe('key files', () => {
  it('reads a signing key and a trusted-keys list, with typed errors for a missing or malformed file', () => {
    const { key, file } = generateSigningKey();
    writeFileSync(join(dir, 'signing-key.json'), JSON.stringify(file));
    expect(readSigningKeyFile(join(dir, 'signing-key.json')).keyId).toBe(key.keyId);
    writeFileSync(join(dir, 'trusted.json'), JSON.stringify({ schemaVersion: 1, keys: [] }));
    expect(readTrustedKeysFile(join(dir, 'trusted.json'))).toEqual({ schemaVersion: 1, keys: [] });
    expect(() => readSigningKeyFile(join(dir, 'none.json'))).toThrow(expect.objectContaining({ code: 'EDGEKD_NOT_FOUND' }));
    expect(() => readSigningKeyFile(join(dir, 'trusted.json'))).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
    writeFileSync(join(dir, 'bad.json'), '{"schemaVersion": 2}');
    expect(() => readTrustedKeysFile(join(dir, 'bad.json'))).toThrow(expect.objectContaining({ code: 'EDGEKD_CONFIG_INVALID' }));
  });
});
