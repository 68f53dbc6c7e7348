import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildFixturePackage } from './testing/tiny-models';
import { verifyPackage, assertPackageValid } from './verify-package';
import { generateSigningKey } from './keys';
import { signManifest } from './sign-manifest';
import { trustedKeyEntry, parseTrustedKeys } from './trusted-keys';
import { readPackageDir, writePackageDir } from './package-dir';
import { decodePackageFile, encodePackageFile } from './package-file';

const now = new Date('2026-11-28T12:00:00Z');
const fixture = () => buildFixturePackage({ now });
const contents = (f: ReturnType<typeof fixture>) => ({ manifest: structuredClone(f.pkg.manifest), signature: structuredClone(f.pkg.signature), model: f.pkg.model.slice() });

describe('verifyPackage', () => {
  it('accepts an intact package signed by a trusted key', () => {
    const f = fixture();
    const r = verifyPackage(contents(f), f.trustedKeys, { now });
    expect(r.ok).toBe(true);
    expect(r.checks.every((c) => c.ok && c.ran)).toBe(true);
    expect(assertPackageValid(contents(f), f.trustedKeys, { now }).name).toBe('fixture-model');
  });

  it('reports EDGEKD_HASH_MISMATCH when a model byte changes', () => {
    const f = fixture();
    const c = contents(f);
    c.model[10] ^= 1;
    const r = verifyPackage(c, f.trustedKeys, { now });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe('EDGEKD_HASH_MISMATCH');
      expect(r.failed).toBe('model-sha256');
      expect(r.checks.find((x) => x.check === 'signature')?.ok).toBe(true);
    }
  });

  it('reports EDGEKD_SIGNATURE_INVALID when the manifest is edited after signing', () => {
    const f = fixture();
    const c = contents(f);
    (c.manifest as { version: number }).version = 99;
    const r = verifyPackage(c, f.trustedKeys, { now });
    expect(r.ok || r.code).toBe('EDGEKD_SIGNATURE_INVALID');
  });

  it('reports EDGEKD_KEY_UNTRUSTED for an unknown, revoked or expired key', () => {
    const f = fixture();
    const other = generateSigningKey(now).key;
    const unknown = verifyPackage(contents(f), { schemaVersion: 1, keys: [trustedKeyEntry(other.publicKeyRaw)] }, { now });
    expect(unknown.ok || unknown.code).toBe('EDGEKD_KEY_UNTRUSTED');
    const revoked = verifyPackage(contents(f), { schemaVersion: 1, keys: [trustedKeyEntry(f.key.publicKeyRaw, { revoked: true })] }, { now });
    expect(revoked.ok || revoked.code).toBe('EDGEKD_KEY_UNTRUSTED');
    const expired = verifyPackage(contents(f), { schemaVersion: 1, keys: [trustedKeyEntry(f.key.publicKeyRaw, { validUntil: '2026-11-01T00:00:00Z' })] }, { now });
    expect(expired.ok || expired.code).toBe('EDGEKD_KEY_UNTRUSTED');
  });

  it('keeps packages signed before a rotation valid and refuses later ones from the old key', () => {
    const oldKey = generateSigningKey(now).key;
    const newKey = generateSigningKey(now).key;
    const rotation = '2026-11-20T00:00:00Z';
    const trust = { schemaVersion: 1 as const, keys: [trustedKeyEntry(oldKey.publicKeyRaw, { validUntil: rotation }), trustedKeyEntry(newKey.publicKeyRaw, { validFrom: rotation })] };
    const before = buildFixturePackage({ key: oldKey, now: new Date('2026-11-10T00:00:00Z') });
    const after = buildFixturePackage({ key: oldKey, now });
    const fresh = buildFixturePackage({ key: newKey, now });
    expect(verifyPackage(contents(before), trust, { now }).ok).toBe(true);
    expect(verifyPackage(contents(after), trust, { now }).ok || 'untrusted').toBe('untrusted');
    expect(verifyPackage(contents(fresh), trust, { now }).ok).toBe(true);
  });

  it('reports EDGEKD_PACKAGE_INVALID for a manifest that fails the schema, naming the field', () => {
    const f = fixture();
    const c = contents(f);
    (c.manifest as { model: { sha256: string } }).model.sha256 = 'not-hex';
    const r = verifyPackage(c, f.trustedKeys, { now });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.code).toBe('EDGEKD_PACKAGE_INVALID');
      expect(r.message).toMatch(/model\/sha256/);
    }
  });

  it('refuses a signature by a listed key over different bytes', () => {
    const f = fixture();
    const forged = signManifest({ ...f.pkg.manifest, version: 2 }, f.key);
    const r = verifyPackage({ ...contents(f), signature: forged }, f.trustedKeys, { now });
    expect(r.ok || r.code).toBe('EDGEKD_SIGNATURE_INVALID');
  });
});

describe('package forms', () => {
  it('round-trips through a directory and a single file', async () => {
    const f = fixture();
    const dir = await mkdtemp(join(tmpdir(), 'edgekd-pkg-'));
    try {
      const pkgDir = join(dir, 'pkg');
      await writePackageDir(pkgDir, f.pkg);
      expect(verifyPackage(await readPackageDir(pkgDir), f.trustedKeys, { now }).ok).toBe(true);
      // Reformatting manifest.json does not break the signature: it covers the canonical form.
      const manifestPath = join(pkgDir, 'manifest.json');
      await writeFile(manifestPath, JSON.stringify(JSON.parse(await readFile(manifestPath, 'utf8'))));
      expect(verifyPackage(await readPackageDir(pkgDir), f.trustedKeys, { now }).ok).toBe(true);
      await rm(join(pkgDir, 'manifest.sig'));
      await expect(readPackageDir(pkgDir)).rejects.toMatchObject({ code: 'EDGEKD_PACKAGE_INVALID' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const single = encodePackageFile(f.pkg);
    expect(verifyPackage(decodePackageFile(single), f.trustedKeys, { now }).ok).toBe(true);
    expect(() => decodePackageFile(single.slice(0, 12))).toThrow(/bad magic|header/);
  });

  it('rejects a trusted-keys entry whose id does not match its public key', () => {
    const k = generateSigningKey(now).key;
    const entry = { ...trustedKeyEntry(k.publicKeyRaw), keyId: '0123456789abcdef' };
    expect(() => parseTrustedKeys({ schemaVersion: 1, keys: [entry] })).toThrow(/public key's id/);
  });
});
