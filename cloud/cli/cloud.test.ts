import { describe, expect, it } from 'vitest';
import { parseDownloadUrl, parseTokens } from './cloud';

describe('edgekd cloud --token', () => {
  it('parses ROLE:TOKEN pairs', () => {
    expect(parseTokens(['viewer:abcdefgh', 'admin:s3cr3t-token:with-colon'])).toEqual([
      { role: 'viewer', token: 'abcdefgh', name: 'viewer' },
      { role: 'admin', token: 's3cr3t-token:with-colon', name: 'admin' },
    ]);
    expect(parseTokens(undefined)).toBeUndefined();
  });

  it('rejects an unknown role or a short token with a typed input error', () => {
    expect(() => parseTokens(['root:abcdefgh'])).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
    expect(() => parseTokens(['viewer:short'])).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
  });
});

describe('edgekd cloud --token-file', () => {
  it('reads one ROLE:TOKEN per line, skipping blank and # lines; a missing file is a typed input error', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { tokenLines } = await import('./cloud');
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-tokens-'));
    try {
      writeFileSync(join(dir, 'tokens'), '# mounted from a Secret\nadmin:abcdefgh1\r\n\n  viewer:ijklmnop2  \n');
      expect(parseTokens(tokenLines(join(dir, 'tokens')))).toEqual([
        { role: 'admin', token: 'abcdefgh1', name: 'admin' },
        { role: 'viewer', token: 'ijklmnop2', name: 'viewer' },
      ]);
      expect(() => tokenLines(join(dir, 'absent'))).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('edgekd cloud --download-url', () => {
  it('keeps an http(s) base URL without its trailing slash and refuses anything else with a typed input error', () => {
    expect(parseDownloadUrl('https://edgekd.example/')).toBe('https://edgekd.example');
    expect(parseDownloadUrl('http://10.0.0.5:8080/edge/')).toBe('http://10.0.0.5:8080/edge');
    for (const bad of ['ftp://x', 'not a url', 'https://user:pw@x', 'https://x/?a=1']) {
      expect(() => parseDownloadUrl(bad)).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
    }
  });
});
