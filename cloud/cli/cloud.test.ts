import { describe, expect, it } from 'vitest';
import { parseTokens } from './cloud';

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
