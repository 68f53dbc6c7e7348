/**
 * A seeded pseudo-random source: a function returning floats in [0, 1). Components that shuffle,
 * augment or make test fixtures take one of these, so a run is reproducible from its seed.
 */
export type Rng = () => number;

/**
 * mulberry32: 32-bit state, full period 2^32, good enough for shuffling, augmentation and fixtures
 * (not for cryptography). Chosen because its whole state is one integer, which a checkpoint can store.
 */
export function createSeededRng(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
