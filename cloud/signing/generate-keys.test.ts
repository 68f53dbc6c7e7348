import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseSigningKeyFile } from '../../shared/package/keys';
import { parseTrustedKeys } from '../../shared/package/trusted-keys';
import { generateKeys } from './generate-keys';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'edgekd-keys-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('generateKeys', () => {
  it('writes a private key readable only by its owner and a trusted-keys list that names it', () => {
    const r = generateKeys({ dir, now: new Date('2026-01-01T00:00:00Z') });
    expect(parseSigningKeyFile.parse(JSON.parse(readFileSync(r.keyFile, 'utf8'))).keyId).toBe(r.keyId);
    expect(statSync(r.keyFile).mode & 0o777).toBe(0o600);
    expect(parseTrustedKeys(JSON.parse(readFileSync(r.trustedKeysFile, 'utf8'))).keys).toEqual([expect.objectContaining({ keyId: r.keyId, validFrom: '2026-01-01T00:00:00.000Z' })]);
    expect(r.rotatedKeyId).toBeNull();
  });

  it('rotates: keeps the old key file, ends the old key at the switch-over time and appends the new one', () => {
    const first = generateKeys({ dir, now: new Date('2026-01-01T00:00:00Z') });
    const second = generateKeys({ dir, now: new Date('2026-02-01T00:00:00Z') });
    expect(second.rotatedKeyId).toBe(first.keyId);
    expect(existsSync(join(dir, `signing-key.${first.keyId}.json`))).toBe(true);
    expect(second.trustedKeys.keys.map((k) => [k.keyId, k.validUntil ?? null])).toEqual([[first.keyId, '2026-02-01T00:00:00.000Z'], [second.keyId, null]]);
    expect(parseTrustedKeys(JSON.parse(readFileSync(second.trustedKeysFile, 'utf8')))).toEqual(second.trustedKeys);
  });

  it('refuses a signing-key.json that is not a key file, or whose key id would name a path, instead of moving it', () => {
    writeFileSync(join(dir, 'signing-key.json'), JSON.stringify({ keyId: '../../elsewhere' }));
    expect(() => generateKeys({ dir })).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
    writeFileSync(join(dir, 'signing-key.json'), '{ not json');
    expect(() => generateKeys({ dir })).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
    expect(readFileSync(join(dir, 'signing-key.json'), 'utf8')).toBe('{ not json');
    // --force replaces it.
    expect(generateKeys({ dir, force: true }).rotatedKeyId).toBeNull();
  });
});
