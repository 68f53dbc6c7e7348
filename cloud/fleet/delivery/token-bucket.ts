/**
 * A token bucket for bytes: `ratePerSecond` tokens arrive continuously, at most `burst` are kept.
 * `take(n, now)` either takes n and returns 0, or takes nothing and returns how many ms to wait
 * until n would be available. A request larger than the burst is allowed once the bucket is full
 * (it drives the balance negative), so a chunk bigger than one second of budget is never starved.
 * Rate 0 means unlimited. The clock is the caller's.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  take(n: number, now: number): number {
    if (this.ratePerSecond <= 0) return 0;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSecond) / 1000);
    this.last = now;
    if (this.tokens >= Math.min(n, this.burst)) {
      this.tokens -= n;
      return 0;
    }
    const need = Math.min(n, this.burst) - this.tokens;
    return Math.max(1, Math.ceil((need * 1000) / this.ratePerSecond));
  }
}
