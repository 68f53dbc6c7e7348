/**
 * The one seeded random source of the project. Everything that shuffles, augments, samples,
 * simulates or initialises takes a `Random`, so a run is reproducible from its seed and a test can
 * inject its own; nothing keeps module-level random state.
 *
 * mulberry32: 32-bit state, full period 2^32, good enough for shuffling, simulation and weight
 * initialisation (not for cryptography). Chosen because its whole state is one integer, which a
 * checkpoint stores (`state`) so a resumed run draws exactly what it would have drawn without the
 * kill. That is also why `normal()` keeps no spare Box–Muller value: two uniforms per draw.
 */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal (Box–Muller, the cosine branch). */
  normal(): number;
  /** `n` standard normals. */
  normals(n: number): Float32Array;
  /** A seed for a sub-stream (a tf initialiser, a worker) drawn from this stream. */
  seed(): number;
  /** The generator's whole state; setting it resumes the stream from there. */
  state: number;
}

class Mulberry32 implements Random {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  get state(): number {
    return this.s;
  }

  set state(v: number) {
    this.s = v >>> 0;
  }

  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    // next() < 1, but next() * n can round up to n once n passes 2^21.
    return Math.min(n - 1, Math.floor(this.next() * n));
  }

  normal(): number {
    // u kept away from 0 so the log is finite.
    const u = Math.max(this.next(), 1e-12);
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  normals(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal();
    return out;
  }

  seed(): number {
    return Math.floor(this.next() * 2 ** 31);
  }
}

export function createRandom(seed: number): Random {
  return new Mulberry32(seed);
}
