import { ksTwoSample } from '../../shared/drift/kolmogorov-smirnov';

/**
 * The comparison baseline: alibi-detect's `KSDrift` defaults applied to softmax outputs (BBSD):
 * one two-sample KS test per output dimension against a reference set, drift when any p-value is
 * below p_val / K (Bonferroni, p_val = 0.05), evaluated on consecutive non-overlapping batches.
 * No persistence, no effect-size gate: every batch is an independent alarm opportunity.
 */
export class BatchKsBaseline {
  private readonly refColumns: number[][];
  private readonly batch: (ArrayLike<number>)[] = [];

  constructor(
    reference: readonly ArrayLike<number>[],
    readonly batchSize = 512,
    readonly pValue = 0.05,
  ) {
    if (reference.length === 0) throw new RangeError('BatchKsBaseline: empty reference');
    const k = reference[0]!.length;
    this.refColumns = Array.from({ length: k }, (_, j) => reference.map((p) => p[j]!));
  }

  /** Adds one probability vector; returns true when a completed batch is declared drifted. */
  observe(p: ArrayLike<number>): boolean {
    this.batch.push(p);
    if (this.batch.length < this.batchSize) return false;
    const k = this.refColumns.length;
    let drift = false;
    for (let j = 0; j < k && !drift; j++) {
      const col = this.batch.map((q) => q[j]!);
      if (ksTwoSample(col, this.refColumns[j]!).pValue < this.pValue / k) drift = true;
    }
    this.batch.length = 0;
    return drift;
  }
}
