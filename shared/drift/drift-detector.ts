import type { DetectorResult, DriftReference } from './reference';
import type { InferenceSummary } from './summary';
import { DEFAULT_MIN_EFFECT, DETECTOR_NAMES, judge, scoreWindow, type DetectorName, type VerdictConfig } from './window-detectors';
import { KOfN } from './k-of-n';
import { PageHinkley, type PageHinkleyConfig } from './page-hinkley';

export interface DriftDetectorConfig {
  /** Samples per evaluated window. */
  windowSize: number;
  /** Samples between evaluations (windows overlap when hop < windowSize). */
  hop: number;
  /** Confirmation: k breached evaluations among the last n. */
  k: number;
  n: number;
  zThreshold: number;
  alpha: number;
  detectors: readonly DetectorName[];
  minEffect: Record<DetectorName, number>;
  /** Page–Hinkley on each detector's z (null: off). A PH detection needs the next evaluation to breach at `confirmZ`. */
  pageHinkley: PageHinkleyConfig | null;
  confirmZ: number;
  /** Evaluations without a breach after which an active alarm clears. */
  clearAfter: number;
}

/**
 * Defaults. W = 512 and hop = 128 let a strong shift confirm within 512 + 2·128 = 768 samples of
 * its start; z > 5 with 3 of 4 on overlapping windows is what kept clean Fashion-MNIST streams
 * under 1 false alarm per 100,000 inferences in `npm run bench:drift` (see BENCHMARKS.md).
 */
export const DEFAULT_DRIFT_CONFIG: DriftDetectorConfig = {
  windowSize: 512,
  hop: 128,
  k: 3,
  n: 4,
  zThreshold: 5,
  alpha: 0.01,
  detectors: DETECTOR_NAMES,
  minEffect: DEFAULT_MIN_EFFECT,
  pageHinkley: { delta: 1, lambda: 25, mean: 0, minInstances: 4 },
  confirmZ: 3,
  clearAfter: 8,
};

export interface DriftEvaluation {
  /** Index (1-based count) of the sample that completed this evaluation. */
  at: number;
  results: DetectorResult[];
  breach: boolean;
  /** A new alarm was confirmed at this evaluation (rising edge). */
  confirmed: boolean;
  reason?: 'k-of-n' | 'page-hinkley';
  /** Alarm state after this evaluation. */
  active: boolean;
  /** Detectors breaching in this evaluation. */
  breaching: string[];
  /** A Page–Hinkley detector fired at this evaluation. */
  changeDetected: boolean;
}

/**
 * The streaming drift detector: a ring buffer of inference summaries, evaluated every `hop`
 * samples over the last `windowSize`, with standardised scores, Bonferroni within the device,
 * k-of-n persistence and Page–Hinkley for slow, persistent shifts. Pure and synchronous: the
 * same object runs in the edge agent and in the benchmark.
 */
export class DriftDetector {
  private readonly ring: InferenceSummary[];
  private count = 0;
  private sinceEval = 0;
  private readonly kofn: KOfN;
  private readonly ph = new Map<string, PageHinkley>();
  private pendingChange = false;
  private activeAlarm = false;
  private quiet = 0;
  private readonly verdict: VerdictConfig;

  constructor(
    private reference: DriftReference,
    readonly config: DriftDetectorConfig = DEFAULT_DRIFT_CONFIG,
  ) {
    if (config.windowSize < 2 || config.hop < 1) throw new RangeError('DriftDetector: windowSize ≥ 2 and hop ≥ 1 required');
    this.ring = new Array(config.windowSize);
    this.kofn = new KOfN(config.k, config.n);
    this.verdict = { zThreshold: config.zThreshold, alpha: config.alpha, minEffect: config.minEffect };
  }

  /** Replaces the reference (e.g. with a field baseline) and restarts the persistence state. */
  setReference(reference: DriftReference): void {
    this.reference = reference;
    this.resetState();
  }

  get currentReference(): DriftReference {
    return this.reference;
  }

  get samplesSeen(): number {
    return this.count;
  }

  get alarmActive(): boolean {
    return this.activeAlarm;
  }

  /** Adds one inference; returns an evaluation every `hop` samples once the window is full. */
  observe(s: InferenceSummary): DriftEvaluation | null {
    this.ring[this.count % this.config.windowSize] = s;
    this.count++;
    this.sinceEval++;
    if (this.count < this.config.windowSize || this.sinceEval < this.config.hop) return null;
    this.sinceEval = 0;
    return this.evaluate();
  }

  /** The current window in arrival order. */
  window(): InferenceSummary[] {
    const w = this.config.windowSize;
    const n = Math.min(this.count, w);
    const out: InferenceSummary[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.ring[(this.count - n + i) % w]!;
    return out;
  }

  private evaluate(): DriftEvaluation {
    const results = judge(scoreWindow(this.window(), this.reference, this.config.detectors), this.reference.scoreBands, this.verdict);
    const breaching = results.filter((r) => r.breach).map((r) => r.detector);
    const breach = breaching.length > 0;
    const byKOfN = this.kofn.push(breach);

    let changeDetected = false;
    if (this.config.pageHinkley) {
      for (const r of results) {
        if (r.z === undefined) continue;
        let ph = this.ph.get(r.detector);
        if (!ph) this.ph.set(r.detector, (ph = new PageHinkley(this.config.pageHinkley)));
        // Clip so one wild window cannot carry the cumulative sum on its own.
        if (ph.update(Math.max(-5, Math.min(10, r.z)))) changeDetected = true;
      }
    }
    const maxZ = results.reduce((m, r) => Math.max(m, r.z ?? -Infinity), -Infinity);
    const byChange = this.pendingChange && maxZ > this.config.confirmZ;
    this.pendingChange = changeDetected;

    let confirmed = false;
    let reason: DriftEvaluation['reason'];
    if (!this.activeAlarm && (byKOfN || byChange)) {
      this.activeAlarm = true;
      confirmed = true;
      reason = byKOfN ? 'k-of-n' : 'page-hinkley';
      this.quiet = 0;
    } else if (this.activeAlarm) {
      this.quiet = breach ? 0 : this.quiet + 1;
      if (this.quiet >= this.config.clearAfter) {
        this.activeAlarm = false;
        this.resetState();
      }
    }
    const e: DriftEvaluation = { at: this.count, results, breach, confirmed, active: this.activeAlarm, breaching, changeDetected };
    if (reason) e.reason = reason;
    return e;
  }

  private resetState(): void {
    this.kofn.reset();
    for (const p of this.ph.values()) p.reset();
    this.pendingChange = false;
    this.quiet = 0;
  }

  /** Forgets the alarm and the window (used after a model swap). */
  reset(): void {
    this.count = 0;
    this.sinceEval = 0;
    this.activeAlarm = false;
    this.resetState();
  }
}
