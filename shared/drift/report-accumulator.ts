import { DRIFT_REFERENCE_VERSION, type DetectorResult, type DriftReference, type DriftReport } from './reference';
import type { InferenceSummary } from './summary';
import { binIndex } from './histogram';
import type { DriftEvaluation } from './drift-detector';

const UNIT_BINS = 10;

/**
 * Aggregates one report period: counts and sums only, so memory is O(classes + bins + channels)
 * however many inferences the period holds, and nothing identifies a single inference.
 */
export class ReportAccumulator {
  private n = 0;
  private classCounts: number[];
  private maxSoftmaxHist = new Array<number>(UNIT_BINS).fill(0);
  private entropyHist = new Array<number>(UNIT_BINS).fill(0);
  private lowMargin = 0;
  private sumMaxSoftmax = 0;
  private inputCounts = new Map<string, { counts: number[]; sum: number }>();
  private featureSums: Array<{ sum: Float64Array; sumSq: Float64Array; haveSq: boolean; n: number }> = [];
  private evaluations = 0;
  private lastResults: DetectorResult[] = [];
  private maxZ: Record<string, number> = {};
  private minP = 1;
  private breached = 0;
  private changeDetected = false;
  private periodStart: number;

  constructor(
    private reference: DriftReference,
    now: number,
  ) {
    this.classCounts = new Array<number>(reference.numClasses).fill(0);
    this.periodStart = now;
  }

  add(s: InferenceSummary): void {
    this.n++;
    if (s.predictedClass < this.classCounts.length) this.classCounts[s.predictedClass]!++;
    this.maxSoftmaxHist[Math.min(UNIT_BINS - 1, Math.floor(s.maxSoftmax * UNIT_BINS))]!++;
    this.entropyHist[Math.min(UNIT_BINS - 1, Math.floor(s.entropy * UNIT_BINS))]!++;
    if (s.margin < (this.reference.lowMargin?.threshold ?? 0.1)) this.lowMargin++;
    this.sumMaxSoftmax += s.maxSoftmax;
    if (s.input && this.reference.inputStatistics) {
      for (const r of this.reference.inputStatistics) {
        const v = s.input[r.name];
        if (v === undefined) continue; // a channel mean this input does not have
        let acc = this.inputCounts.get(r.name);
        if (!acc) this.inputCounts.set(r.name, (acc = { counts: new Array<number>(r.distribution.proportions.length).fill(0), sum: 0 }));
        acc.counts[binIndex(r.distribution.edges, v)]!++;
        acc.sum += v;
      }
    }
    s.features?.forEach((f, l) => {
      let acc = this.featureSums[l];
      if (!acc) this.featureSums[l] = acc = { sum: new Float64Array(f.mean.length), sumSq: new Float64Array(f.mean.length), haveSq: true, n: 0 };
      acc.n++;
      for (let i = 0; i < f.mean.length; i++) {
        acc.sum[i] += f.mean[i]!;
        if (f.meanSquare) acc.sumSq[i] += f.meanSquare[i]!;
      }
      if (!f.meanSquare) acc.haveSq = false;
    });
  }

  addEvaluation(e: DriftEvaluation): void {
    this.evaluations++;
    this.lastResults = e.results;
    if (e.breach) this.breached++;
    if (e.changeDetected) this.changeDetected = true;
    const k = Math.max(1, e.results.length);
    for (const r of e.results) {
      if (r.z !== undefined) this.maxZ[r.detector] = Math.max(this.maxZ[r.detector] ?? -Infinity, r.z);
      if (r.pValue !== undefined) this.minP = Math.min(this.minP, Math.min(1, r.pValue * k));
    }
  }

  get count(): number {
    return this.n;
  }

  /** The report for the period so far; `reset` starts the next period. */
  build(o: {
    now: number;
    modelId: string;
    modelVersion: string;
    windowSize: number;
    referenceSource: DriftReport['referenceSource'];
    alarm: { active: boolean; since?: number; detectors: string[] };
  }): DriftReport {
    const report: DriftReport = {
      version: DRIFT_REFERENCE_VERSION,
      modelId: o.modelId,
      modelVersion: o.modelVersion,
      periodStart: this.periodStart,
      periodEnd: o.now,
      sampleCount: this.n,
      windowSize: o.windowSize,
      windowsEvaluated: this.evaluations,
      referenceSource: o.referenceSource,
      classCounts: [...this.classCounts],
      maxSoftmaxHistogram: [...this.maxSoftmaxHist],
      entropyHistogram: [...this.entropyHist],
      lowMarginCount: this.lowMargin,
      detectors: this.lastResults.map((r) => ({ ...r })),
      maxZ: { ...this.maxZ },
      minPValue: this.minP,
      alarm: {
        active: o.alarm.active,
        detectors: o.alarm.detectors,
        breachedWindows: this.breached,
        changeDetected: this.changeDetected,
        ...(o.alarm.since !== undefined ? { since: o.alarm.since } : {}),
      },
    };
    if (this.n > 0) report.meanMaxSoftmax = Math.min(1, this.sumMaxSoftmax / this.n);
    if (this.inputCounts.size > 0) {
      report.inputStatistics = [...this.inputCounts].map(([name, a]) => ({ name: name as 'mean', counts: a.counts, mean: a.sum / Math.max(1, this.n) }));
    }
    const layers = this.reference.featureStatistics ?? [];
    if (this.featureSums.length > 0) {
      report.featureStatistics = this.featureSums.map((a, l) => {
        const mean = Array.from(a.sum, (v) => v / a.n);
        return {
          layer: layers[l]?.layer ?? `layer${l}`,
          mean,
          variance: a.haveSq ? Array.from(a.sumSq, (v, i) => Math.max(0, v / a.n - mean[i]! ** 2)) : [],
          sampleCount: a.n,
        };
      });
    }
    return report;
  }

  reset(now: number, reference?: DriftReference): void {
    if (reference) this.reference = reference;
    this.n = 0;
    this.classCounts = new Array<number>(this.reference.numClasses).fill(0);
    this.maxSoftmaxHist.fill(0);
    this.entropyHist.fill(0);
    this.lowMargin = 0;
    this.sumMaxSoftmax = 0;
    this.inputCounts.clear();
    this.featureSums = [];
    this.evaluations = 0;
    this.maxZ = {};
    this.minP = 1;
    this.breached = 0;
    this.changeDetected = false;
    this.periodStart = now;
  }
}
