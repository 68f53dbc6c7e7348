/**
 * One byte range of an HTTP `Range` header (RFC 9110 §14.1.2): `bytes=a-b`, `bytes=a-`,
 * `bytes=-n`. Multiple ranges are not served (the whole header is then ignored, as §14.2 allows,
 * and the full body is returned). Returns null for "serve everything", 'unsatisfiable' for 416.
 */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'unsatisfiable' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return null;
  const [, a, b] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(size - 1, Number(b));
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
