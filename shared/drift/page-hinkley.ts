/**
 * Page–Hinkley test for an increase in the mean of a stream. With standardised inputs (mean 0,
 * sd 1 under no drift) pass `mean: 0` so the test does not slowly adapt to a drift it should
 * report (the classic form tracks the running mean instead). `delta` is the tolerated drift per
 * observation, `lambda` the alarm level on the cumulative sum; the defaults suit standardised
 * window scores (λ = 50 in MOA/river assumes raw scales).
 */
export interface PageHinkleyConfig {
  delta: number;
  lambda: number;
  /** Known in-control mean; when absent the running mean of the stream is used. */
  mean?: number;
  /** Observations before an alarm is possible. */
  minInstances: number;
}

export const DEFAULT_PAGE_HINKLEY: PageHinkleyConfig = { delta: 1, lambda: 20, mean: 0, minInstances: 4 };

export interface PageHinkleyState {
  n: number;
  runningMean: number;
  cumulative: number;
  minimum: number;
}

export class PageHinkley {
  private s: PageHinkleyState = { n: 0, runningMean: 0, cumulative: 0, minimum: 0 };

  constructor(private readonly config: PageHinkleyConfig = DEFAULT_PAGE_HINKLEY) {}

  /** Adds one observation; returns true when a change is detected (the test then resets). */
  update(x: number): boolean {
    const s = this.s;
    s.n++;
    s.runningMean += (x - s.runningMean) / s.n;
    const centre = this.config.mean ?? s.runningMean;
    s.cumulative += x - centre - this.config.delta;
    s.minimum = Math.min(s.minimum, s.cumulative);
    if (s.n >= this.config.minInstances && s.cumulative - s.minimum > this.config.lambda) {
      this.reset();
      return true;
    }
    return false;
  }

  /** Current test statistic m_t − min m. */
  get statistic(): number {
    return this.s.cumulative - this.s.minimum;
  }

  reset(): void {
    this.s = { n: 0, runningMean: 0, cumulative: 0, minimum: 0 };
  }

  /** For persistence across restarts. */
  saveState(): PageHinkleyState {
    return { ...this.s };
  }

  loadState(state: PageHinkleyState): void {
    this.s = { ...state };
  }
}
