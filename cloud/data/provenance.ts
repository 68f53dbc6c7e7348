import { EdgekdError } from '../../shared/errors';

/**
 * Provenance marks. Real images may train and evaluate a teacher; they must never reach the
 * data-free distillation or int8 calibration path. Every split, batch and tensor this folder hands
 * out carries `provenance: 'real'` (plain objects) or a symbol tag (typed arrays and tf tensors),
 * and the data-free path calls `assertNotReal` on whatever it is given.
 *
 * The tag uses `Symbol.for` so that it survives two copies of this module (bundles, workers that
 * re-import it). A tensor derived from a tagged one by a tf op is a new object and loses the tag;
 * the guarantee therefore rests on the data-free path only accepting batches it built itself
 * (`provenance: 'synthetic'`), with this check as the tripwire at its entry points.
 */

export const PROVENANCE_TAG: unique symbol = Symbol.for('edgekd.provenance') as never;

/** Tags an object (typed array, tf.Tensor, plain object) as real data and returns it. */
export function markReal<T extends object>(x: T): T {
  Object.defineProperty(x, PROVENANCE_TAG, { value: 'real', enumerable: false, configurable: false, writable: false });
  return x;
}

/** True when `x` is, or directly holds, something a real-data loader produced. */
export function isRealData(x: unknown): boolean {
  if (x === null || (typeof x !== 'object' && typeof x !== 'function')) return false;
  const o = x as Record<PropertyKey, unknown>;
  if (o[PROVENANCE_TAG] === 'real') return true;
  if (o.provenance === 'real') return true;
  // A batch-like object: { xs, images, … } holding tagged arrays or tensors.
  for (const key of ['xs', 'images', 'x', 'data'] as const) {
    const v = o[key];
    if (v !== null && typeof v === 'object' && (v as Record<PropertyKey, unknown>)[PROVENANCE_TAG] === 'real') return true;
  }
  return false;
}

/**
 * Throws EDGEKD_REAL_DATA_FORBIDDEN when `x` is real data. `where` names the entry point
 * ("distillation", "int8 calibration") for the message.
 */
export function assertNotReal(x: unknown, where: string): void {
  if (isRealData(x)) {
    throw new EdgekdError(
      'EDGEKD_REAL_DATA_FORBIDDEN',
      `${where} accepts only synthetic samples, but was given real dataset images; data-free means no real training image may reach this path`,
    );
  }
}
