import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, parseErrorCode } from './codes';
import { EdgekdError } from './edgekd-error';

const doc = readFileSync(resolve(__dirname, '../../docs/errors.md'), 'utf8');
const documented = new Set([...doc.matchAll(/`(EDGEKD_[A-Z0-9_]+)`/g)].map((m) => m[1]));

describe('error catalogue', () => {
  it('documents every code in docs/errors.md', () => {
    expect(Object.keys(ErrorCodes).filter((c) => !documented.has(c))).toEqual([]);
  });
  it('documents no code that no longer exists', () => {
    expect([...documented].filter((c) => !(c! in ErrorCodes))).toEqual([]);
  });
  it('gives each error the category and retry flag of its code', () => {
    const e = new EdgekdError('EDGEKD_CHUNK_INVALID', 'chunk 3 failed its hash');
    expect(e.toJSON()).toMatchObject({ code: 'EDGEKD_CHUNK_INVALID', category: 'integrity', retryable: true });
  });
  it('reads a received code as a catalogue code, and anything else as the fallback', () => {
    expect(parseErrorCode('EDGEKD_HASH_MISMATCH', 'EDGEKD_INTERNAL')).toBe('EDGEKD_HASH_MISMATCH');
    expect(parseErrorCode('EDGEKD_FROM_A_NEWER_AGENT', 'EDGEKD_INTERNAL')).toBe('EDGEKD_INTERNAL');
    expect(parseErrorCode('constructor', 'EDGEKD_INTERNAL')).toBe('EDGEKD_INTERNAL');
    expect(parseErrorCode('__proto__', 'EDGEKD_MESSAGE_INVALID')).toBe('EDGEKD_MESSAGE_INVALID');
  });
});
