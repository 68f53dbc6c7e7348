import * as tf from '@tensorflow/tfjs';
export type Initializer = ReturnType<typeof tf.initializers.heNormal>;
import { deriveSeed } from '../data/seeded-rng';

/**
 * Seeded initialisers for one model build. Each layer gets its own seed derived from the model
 * seed and the layer's position, so the same seed always gives the same weights and two layers
 * never share a random stream. tfjs initialisers take a seed and draw from their own seeded PRNG
 * (not from global state), which is what makes this reproducible.
 */
export interface SeededInit {
  /** He-normal for a ReLU-family conv or dense kernel. */
  he(): Initializer;
  /** Glorot-uniform for the final (logit) layer. */
  glorot(): Initializer;
}

export function createSeededInit(seed: number): SeededInit {
  let counter = 0;
  const next = (): number => deriveSeed(seed, ++counter) % 2147483647;
  return {
    he: () => tf.initializers.heNormal({ seed: next() }),
    glorot: () => tf.initializers.glorotUniform({ seed: next() }),
  };
}
