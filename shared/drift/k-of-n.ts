/**
 * Persistence rule: confirmed when at least `k` of the last `n` window verdicts were breaches.
 * Breaches on overlapping windows are correlated, so k and n are chosen together with the hop
 * (the benchmark measures the resulting false-alarm rate).
 */
export class KOfN {
  private readonly recent: boolean[] = [];

  constructor(
    readonly k: number,
    readonly n: number,
  ) {
    if (!Number.isInteger(k) || !Number.isInteger(n) || k < 1 || n < k) throw new RangeError(`KOfN: need 1 ≤ k ≤ n, got k=${k} n=${n}`);
  }

  /** Records one verdict; returns whether the rule holds now. */
  push(breach: boolean): boolean {
    this.recent.push(breach);
    if (this.recent.length > this.n) this.recent.shift();
    return this.count >= this.k;
  }

  get count(): number {
    let c = 0;
    for (const b of this.recent) if (b) c++;
    return c;
  }

  reset(): void {
    this.recent.length = 0;
  }
}
