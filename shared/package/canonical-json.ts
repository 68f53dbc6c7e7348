import canonicalize from 'canonicalize';
import { EdgekdError } from '../errors';

/**
 * The canonical encoding a manifest signature covers: the JSON Canonicalization Scheme, RFC 8785
 * (JCS), so a device in any language can rebuild the signed bytes with its own JCS library:
 * - object members sorted by the UTF-16 code units of their names, at every depth;
 * - no whitespace;
 * - numbers as IEEE 754 doubles written the ECMAScript way (`3.2e-7`, `1e+21`, `100000000000000000000`,
 *   `-0` as `0`);
 * - strings with only `"`, `\`, and U+0000..U+001F escaped (`\b \t \n \f \r`, otherwise `\u00xx`
 *   lower-case); everything else, U+007F included, written as itself; UTF-8 output.
 *
 * The serialisation itself is the `canonicalize` package (by an author of RFC 8785). This module
 * first checks that the value is I-JSON that JCS defines an encoding for, and refuses the rest
 * with EDGEKD_PACKAGE_INVALID instead of letting it be silently changed: non-finite numbers, lone
 * surrogates (in values or member names), `undefined`/functions/symbols/bigints inside arrays,
 * and objects that are not plain (Date, Map, class instances, anything with `toJSON`).
 * `undefined` object members are left out, as JSON.stringify does. Parsing the canonical text
 * and encoding it again yields the same bytes.
 */
export function canonicalJson(value: unknown): string {
  check(value, '');
  const text = canonicalize(value);
  if (text === undefined) fail('', 'no JSON value');
  return text;
}

function fail(path: string, what: string): never {
  throw new EdgekdError('EDGEKD_PACKAGE_INVALID', `cannot canonicalise ${path || '/'}: ${what}`);
}

/** Unpaired UTF-16 surrogates cannot be written as UTF-8; JCS (I-JSON) forbids them. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function check(v: unknown, path: string): void {
  if (v === null) return;
  switch (typeof v) {
    case 'boolean':
      return;
    case 'string':
      if (LONE_SURROGATE.test(v)) fail(path, 'string holds a lone UTF-16 surrogate');
      return;
    case 'number':
      if (!Number.isFinite(v)) fail(path, `non-finite number ${v}`);
      return;
    case 'object': {
      if (Array.isArray(v)) {
        v.forEach((x, i) => check(x, `${path}/${i}`));
        return;
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) fail(path, 'not a plain object');
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function') fail(path, 'object with toJSON');
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (LONE_SURROGATE.test(k)) fail(path, 'member name holds a lone UTF-16 surrogate');
        if (x !== undefined) check(x, `${path}/${k}`);
      }
      return;
    }
    default:
      fail(path, `unsupported value of type ${typeof v}`);
  }
}
