import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkDowngrade } from '../../shared/package/downgrade-intent';
import { parseTrustedKeys } from '../../shared/package/trusted-keys';
import { run as generateKeys } from './keys-generate';
import { run as signDowngradeCli } from './downgrade-sign';

describe('edgekd downgrade sign', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-downgrade-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a statement the named devices accept and others refuse', async () => {
    await generateKeys(['--out', dir]);
    const out = join(dir, 'downgrade.json');
    const sha256 = 'a'.repeat(64);
    expect(await signDowngradeCli(['--key', join(dir, 'signing-key.json'), '--model', 'student@2', '--sha256', sha256, '--devices', 'cam-1,cam-2', '--valid-hours', '1', '--out', out])).toBe(0);
    const signed = JSON.parse(readFileSync(out, 'utf8'));
    const trustedKeys = parseTrustedKeys(JSON.parse(readFileSync(join(dir, 'trusted-keys.json'), 'utf8')));
    const audience = { groups: [], model: { name: 'student', version: 2, sha256 }, trustedKeys, now: new Date() };
    expect(() => checkDowngrade(signed, { ...audience, deviceId: 'cam-2' })).not.toThrow();
    expect(() => checkDowngrade(signed, { ...audience, deviceId: 'cam-3' })).toThrow(expect.objectContaining({ code: 'EDGEKD_DOWNGRADE_UNAUTHORIZED' }));
    expect(() => checkDowngrade(signed, { ...audience, deviceId: 'cam-1', now: new Date(Date.now() + 2 * 3_600_000) })).toThrow(/expired/);
  });

  it('refuses a statement with no audience or a malformed model', async () => {
    await expect(signDowngradeCli(['--key', join(dir, 'signing-key.json'), '--model', 'student@2', '--sha256', 'a'.repeat(64)])).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
    await expect(signDowngradeCli(['--key', join(dir, 'signing-key.json'), '--model', 'student', '--sha256', 'a'.repeat(64), '--devices', 'x'])).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
  });
});
