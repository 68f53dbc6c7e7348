import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json';
import { createRandom } from '../random/seeded-random';

interface JcsVectors {
  numbers: Array<{ bits: string; canonical: string }>;
  documents: Array<{ name: string; input: string; canonical: string }>;
  invalid: Array<{ name: string; input: string }>;
}
const vectors = JSON.parse(readFileSync(resolve(__dirname, '../../docs/protocol/vectors/jcs.json'), 'utf8')) as JcsVectors;

const fromBits = (hex: string): number => Buffer.from(hex, 'hex').readDoubleBE(0);

/**
 * The encoder manifests were signed with before the switch to RFC 8785 (JSON.stringify for
 * scalars, keys sorted by UTF-16 code units). Kept only to show that the signed bytes did not
 * change, so packages signed earlier verify under "edgekd-manifest-v1" as they are.
 */
function legacyCanonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(legacyCanonicalJson).join(',')}]`;
  const keys = Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined);
  return `{${keys.map((k) => `${JSON.stringify(k)}:${legacyCanonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
}

describe('canonicalJson is RFC 8785 (JCS)', () => {
  it.each(vectors.numbers)('writes the double $bits as $canonical (RFC 8785 appendix B)', ({ bits, canonical }) => {
    expect(canonicalJson(fromBits(bits))).toBe(canonical);
    expect(canonicalJson([fromBits(bits)])).toBe(`[${canonical}]`);
  });

  it.each(vectors.documents)('canonicalises $name', ({ input, canonical }) => {
    expect(canonicalJson(JSON.parse(input))).toBe(canonical);
    // Idempotent: the canonical text parsed and encoded again gives the same bytes.
    expect(canonicalJson(JSON.parse(canonical))).toBe(canonical);
  });

  it.each(vectors.invalid)('refuses $name with EDGEKD_PACKAGE_INVALID', ({ input }) => {
    expect(() => canonicalJson(JSON.parse(input))).toThrow(expect.objectContaining({ code: 'EDGEKD_PACKAGE_INVALID' }));
  });

  it('refuses values JSON cannot hold instead of changing them, and drops undefined members', () => {
    expect(canonicalJson({ a: undefined, b: 2 })).toBe('{"b":2}');
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/non-finite/);
    expect(() => canonicalJson({ a: Number.POSITIVE_INFINITY })).toThrow(/non-finite/);
    expect(() => canonicalJson([undefined])).toThrow(/unsupported/);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(/unsupported/);
    expect(() => canonicalJson({ n: 1n })).toThrow(/unsupported/);
    expect(() => canonicalJson({ d: new Date(0) })).toThrow(/plain object/);
    expect(() => canonicalJson({ j: { toJSON: () => 1 } })).toThrow(/toJSON/);
  });

  it('gives the same bytes as the encoder packages were signed with before, on random manifest-like documents', () => {
    const random = createRandom(8785);
    const rand = () => random.next();
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const scalar = (): unknown =>
      pick([
        () => (rand() - 0.5) * 10 ** Math.floor(rand() * 60 - 30),
        () => Math.floor(rand() * 2 ** 53),
        () => pick([3.2e-7, 1e20, 1e21, -0, 5e-324, 1 / 3]),
        () => String.fromCharCode(...Array.from({ length: 6 }, () => pick([0x7f, 0x1f, 0x22, 0x5c, 0xe9, 0x20ac, 0x2028, 0x41]))) + '\u{1F600}',
        () => rand() < 0.5,
        () => null,
      ])();
    const value = (depth: number): unknown => {
      if (depth > 3 || rand() < 0.4) return scalar();
      if (rand() < 0.5) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(rand() * 5) }, () => [pick(['a', 'B', 'é', '\u{1F600}', '\uE000', '1', 'z']) + Math.floor(rand() * 3), value(depth + 1)]));
    };
    for (let i = 0; i < 500; i++) {
      const doc = value(0);
      expect(canonicalJson(doc)).toBe(legacyCanonicalJson(doc));
    }
  });
});
