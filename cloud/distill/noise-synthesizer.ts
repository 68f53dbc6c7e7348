import type { Random } from '../../shared/random/seeded-random';
import { BatchSynthesizer, type SyntheticBatch } from './synthetic-batch';

/**
 * Uniform noise over the input domain: the "KD on noise" lower bound of the literature, and the
 * synthetic set of fixtures that need a buffer without inverting a teacher. Draws from an injected
 * seeded source so a seed gives one batch.
 */
export class NoiseSynthesizer extends BatchSynthesizer {
  constructor(
    private readonly sampleShape: readonly [number, number, number],
    private readonly range: { low: number; high: number },
    private readonly random: Random,
  ) {
    super();
  }

  batch(n: number): SyntheticBatch {
    const [h, w, c] = this.sampleShape;
    const images = new Float32Array(n * h * w * c);
    const { low, high } = this.range;
    for (let i = 0; i < images.length; i++) images[i] = low + (high - low) * this.random.next();
    return this.mintBatch(images, [n, h, w, c]);
  }
}
