import { EdgekdError } from '../../shared/errors';
import { assertNotReal } from '../data/provenance';

/**
 * A batch of generated images. Only this class may enter the replay buffer or the calibration
 * set: the buffer checks the private brand (`#synthetic in x`), so a plain object that merely
 * claims `provenance: 'synthetic'` is refused, and the constructor refuses pixel arrays that a
 * real-data loader tagged (`cloud/data/provenance.ts`). Images are NHWC float32 in the teacher's
 * input domain (the dataset normalisation already applied).
 */
export class SyntheticBatch {
  readonly #synthetic = true;
  readonly provenance = 'synthetic' as const;
  readonly images: Float32Array;
  /** [n, h, w, c] */
  readonly shape: readonly [number, number, number, number];

  constructor(images: Float32Array, shape: readonly [number, number, number, number]) {
    assertNotReal(images, 'a synthetic batch');
    const [n, h, w, c] = shape;
    if (images.length !== n * h * w * c) {
      throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `synthetic batch holds ${images.length} values, shape [${shape.join(', ')}] needs ${n * h * w * c}`);
    }
    this.images = images;
    this.shape = shape;
  }

  get size(): number {
    return this.shape[0];
  }

  static isSynthetic(x: unknown): x is SyntheticBatch {
    return typeof x === 'object' && x !== null && #synthetic in x;
  }
}

/** The tripwire at every entry of the data-free path. */
export function assertSyntheticBatch(x: unknown, where: string): asserts x is SyntheticBatch {
  assertNotReal(x, where);
  if (!SyntheticBatch.isSynthetic(x)) {
    throw new EdgekdError('EDGEKD_REAL_DATA_FORBIDDEN', `${where} accepts only batches the generator produced (SyntheticBatch); got ${describe(x)}`);
  }
}

function describe(x: unknown): string {
  if (x === null || typeof x !== 'object') return String(x);
  return x.constructor?.name ?? 'an object';
}
