import { EdgekdError } from '../errors';

/**
 * The canonical encoding a manifest signature covers. Rules (close to RFC 8785 JCS, restricted
 * to what a manifest holds):
 * - object keys sorted by UTF-16 code units (JavaScript's default sort), each key once;
 * - no whitespace anywhere;
 * - strings and numbers written as `JSON.stringify` writes them (ECMAScript shortest round-trip
 *   numbers, `\u` escapes only for control characters, `"` and `\`);
 * - `undefined` object members are left out (as JSON.stringify does); `undefined`, functions,
 *   symbols, bigints, NaN and ±Infinity anywhere else are rejected rather than silently changed;
 * - the text is encoded as UTF-8.
 * Parsing the canonical text and encoding it again yields the same bytes, so a verifier can
 * re-encode the manifest it parsed from `manifest.json` whatever the file's formatting.
 */
export function canonicalJson(value: unknown): string {
  return encode(value, '');
}

export function canonicalJsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value));
}

function fail(path: string, what: string): never {
  throw new EdgekdError('EDGEKD_PACKAGE_INVALID', `cannot canonicalise ${path || '/'}: ${what}`);
}

function encode(v: unknown, path: string): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'string':
      return JSON.stringify(v);
    case 'number':
      if (!Number.isFinite(v)) fail(path, `non-finite number ${v}`);
      // -0 becomes 0, as JSON.stringify does.
      return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) return `[${v.map((x, i) => encode(x, `${path}/${i}`)).join(',')}]`;
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) fail(path, 'not a plain object');
      const keys = Object.keys(v as object).sort();
      const parts: string[] = [];
      for (const k of keys) {
        const x = (v as Record<string, unknown>)[k];
        if (x === undefined) continue;
        parts.push(`${JSON.stringify(k)}:${encode(x, `${path}/${k}`)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      return fail(path, `unsupported value of type ${typeof v}`);
  }
}
