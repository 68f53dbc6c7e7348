import { EdgekdError } from '../../shared/errors';
import { assertNotReal } from '../data/provenance';

/** Only this module holds it: `new SyntheticBatch(…)` from anywhere else cannot pass it. */
const MINT_TOKEN: unique symbol = Symbol('edgekd.synthetic-batch.mint');
let mint: (images: Float32Array, shape: readonly [number, number, number, number]) => SyntheticBatch;

/**
 * A batch of generated images. Only this class may enter the replay buffer or the calibration
 * set: the buffer checks the private brand (`#synthetic in x`), so a plain object that merely
 * claims `provenance: 'synthetic'` is refused. There is no public constructor: a batch is made
 * only by a synthesizer (a subclass of `BatchSynthesizer`, which inverts the teacher or draws
 * noise), and the pixels it is made from must not carry a real-data tag. Images are NHWC float32
 * in the teacher's input domain (the dataset normalisation already applied).
 */
export class SyntheticBatch {
  readonly #synthetic = true;
  readonly provenance = 'synthetic' as const;
  readonly images: Float32Array;
  /** [n, h, w, c] */
  readonly shape: readonly [number, number, number, number];

  static {
    mint = (images, shape) => new SyntheticBatch(MINT_TOKEN, images, shape);
  }

  private constructor(token: symbol, images: Float32Array, shape: readonly [number, number, number, number]) {
    if (token !== MINT_TOKEN) {
      throw new EdgekdError('EDGEKD_REAL_DATA_FORBIDDEN', 'a SyntheticBatch can only be made by a synthesizer (BatchSynthesizer), not constructed directly');
    }
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

/**
 * The one way to make a `SyntheticBatch`: a synthesizer subclasses this and calls `mintBatch` on
 * the images it generated. Keeping the minting behind a base class makes every producer of
 * "synthetic" samples a named synthesizer that a reviewer can find (`extends BatchSynthesizer`).
 */
export abstract class BatchSynthesizer {
  protected mintBatch(images: Float32Array, shape: readonly [number, number, number, number]): SyntheticBatch {
    return mint(images, shape);
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
