import type { InferenceSummary } from '../../shared/drift/summary';

/**
 * Opt-in hard-example sampling: inputs whose top-1/top-2 margin is below `maxMargin` may leave the
 * device, at most `budgetBytesPerDay` bytes per rolling UTC day and at most `maxPerDay` samples.
 * Off unless the fleet policy turns it on; with it off nothing but aggregates leaves the device.
 */
export interface HardExamplePolicy {
  enabled: boolean;
  maxMargin: number;
  budgetBytesPerDay: number;
  maxPerDay?: number;
  /** Keep 1 in `every` eligible inputs, so the sample spreads over the day (default 1). */
  every?: number;
}

const DAY_MS = 86_400_000;

export class HardExampleSampler {
  private day = -1;
  private bytes = 0;
  private uploaded = 0;
  private collected = 0;
  private seen = 0;

  constructor(
    private readonly policy: HardExamplePolicy,
    private readonly clock: () => number,
  ) {}

  get enabled(): boolean {
    return this.policy.enabled;
  }

  /** Whether this input may be uploaded now (and books it against the budget). */
  offer(s: InferenceSummary, bytes: number): boolean {
    if (!this.policy.enabled || s.margin >= this.policy.maxMargin) return false;
    const day = Math.floor(this.clock() / DAY_MS);
    if (day !== this.day) {
      this.day = day;
      this.bytes = 0;
      this.uploaded = 0;
    }
    this.collected++;
    this.seen++;
    if (this.seen % Math.max(1, this.policy.every ?? 1) !== 0) return false;
    if (this.bytes + bytes > this.policy.budgetBytesPerDay) return false;
    if (this.policy.maxPerDay !== undefined && this.uploaded >= this.policy.maxPerDay) return false;
    this.bytes += bytes;
    this.uploaded++;
    return true;
  }

  accounting(): { collected: number; uploaded: number; bytesUploaded: number; budgetBytesPerDay: number } {
    return { collected: this.collected, uploaded: this.uploaded, bytesUploaded: this.bytes, budgetBytesPerDay: this.policy.budgetBytesPerDay };
  }
}
