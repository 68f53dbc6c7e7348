import { jensenShannonDistance } from '../../../shared/drift/jensen-shannon';

/** Pooled top-1 histograms of both models over a wave's shadow evaluations. */
export interface PooledClassCounts {
  active: number[];
  candidate: number[];
}

export interface DriftRepairScore {
  /** Jensen–Shannon distance (base 2) of the serving model's shadow histogram from the class prior. */
  activeDistance: number;
  /** The same for the candidate, on the same inputs. */
  candidateDistance: number;
  /** activeDistance − candidateDistance: > 0 means the candidate's answers moved back toward the prior. */
  improvement: number;
  inferences: number;
}

/**
 * Sums the devices' shadow class counts. Devices whose counts have another width than the prior
 * are left out (an agent of another head cannot be compared); null when no device contributed.
 */
export function poolShadowClassCounts(samples: ReadonlyArray<{ active: readonly number[]; candidate: readonly number[] } | undefined>, classes: number): PooledClassCounts | null {
  const active = new Array<number>(classes).fill(0);
  const candidate = new Array<number>(classes).fill(0);
  let any = false;
  for (const s of samples) {
    if (!s || s.active.length !== classes || s.candidate.length !== classes) continue;
    for (let k = 0; k < classes; k++) {
      active[k]! += s.active[k]!;
      candidate[k]! += s.candidate[k]!;
    }
    any = true;
  }
  return any && active.some((v) => v > 0) ? { active, candidate } : null;
}

/**
 * The label-free drift-repair score of a retrained candidate. Under the covariate shifts a
 * statistics-only retrain targets (contrast, brightness, …) the field's class frequencies do not
 * change, so a model that answers more inputs correctly predicts a class histogram closer to the
 * clean class prior than one that fails on the shifted inputs (which piles answers onto a few
 * classes). This is the agents' `class-histogram` detector, applied to both models on the same
 * shadow inputs. Confidence is deliberately not scored toward a reference: a gate that rewards
 * confidence rewards a collapsed, over-confident model; the class histogram penalises collapse.
 */
export function driftRepairScore(classPrior: readonly number[], pooled: PooledClassCounts): DriftRepairScore {
  const activeDistance = jensenShannonDistance(pooled.active, classPrior);
  const candidateDistance = jensenShannonDistance(pooled.candidate, classPrior);
  return {
    activeDistance,
    candidateDistance,
    improvement: activeDistance - candidateDistance,
    inferences: pooled.active.reduce((a, b) => a + b, 0),
  };
}
