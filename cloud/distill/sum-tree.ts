import { EdgekdError } from '../../shared/errors';

/**
 * A sum-tree over `capacity` leaves: O(log K) update of one leaf's mass and O(log K) lookup of the
 * leaf whose cumulative mass interval holds a value u ∈ [0, total). This is the structure of
 * proportional prioritized replay (Schaul et al., ICLR 2016, §3.3 and App. B.2.1).
 *
 * Invariant: node i holds the sum of its two children; leaves live at [size, 2·size), where size
 * is the next power of two ≥ capacity, and leaves past `capacity` stay 0 forever.
 */
export class SumTree {
  readonly capacity: number;
  private readonly size: number;
  private readonly nodes: Float64Array;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `sum-tree capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
    let size = 1;
    while (size < capacity) size *= 2;
    this.size = size;
    this.nodes = new Float64Array(2 * size);
  }

  get total(): number {
    return this.nodes[1]!;
  }

  get(i: number): number {
    return this.nodes[this.size + i]!;
  }

  set(i: number, mass: number): void {
    if (i < 0 || i >= this.capacity) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `sum-tree index ${i} outside [0, ${this.capacity})`);
    if (!(mass >= 0) || !Number.isFinite(mass)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `sum-tree mass must be finite and ≥ 0, got ${mass}`);
    let k = this.size + i;
    this.nodes[k] = mass;
    k >>= 1;
    while (k >= 1) {
      this.nodes[k] = this.nodes[2 * k]! + this.nodes[2 * k + 1]!;
      k >>= 1;
    }
  }

  /**
   * The leaf whose interval [prefix, prefix + mass) holds u. u is clamped into [0, total) so a
   * float rounding at the top end cannot walk into an empty leaf.
   */
  find(u: number): number {
    const total = this.total;
    if (!(total > 0)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'cannot sample from an empty sum-tree');
    let v = Math.min(Math.max(u, 0), total * (1 - 1e-12));
    let k = 1;
    while (k < this.size) {
      const left = this.nodes[2 * k]!;
      if (v < left) k = 2 * k;
      else {
        v -= left;
        k = 2 * k + 1;
      }
    }
    let leaf = k - this.size;
    // Rounding can still land on a zero-mass leaf at the right edge: step back to a live one.
    while (leaf > 0 && this.get(leaf) === 0) leaf--;
    return leaf;
  }
}
