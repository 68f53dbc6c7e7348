import type { LayerSketch } from '../../shared/drift/reference';
import type { InputStatisticMeans } from '../../shared/drift/pool-input-statistics';
import type { AdaptationSettings } from './adaptation-settings';

/**
 * The retrain pipeline's steps as small interfaces, so the orchestration is testable with fakes.
 * `retrain-pipeline.ts` builds them from injected engines (`job-engines.ts` in `edgekd cloud`,
 * `engine-steps.ts` in process) and a rollout engine (the fleet canary). Each step returns what the next needs plus a JSON summary for the run record.
 */
export interface PackageRef {
  name: string;
  version: number;
  sha256: string;
}

export interface FeatureTarget {
  /** BatchNorm layer of the teacher. */
  layer: string;
  mean: number[];
  variance: number[];
  sampleCount: number;
}

export interface RetrainContext {
  runId: string;
  cohort: string;
  model: { name: string; version: string };
  /** Report ids that triggered the run. */
  triggerReports: string[];
  /** The field's feature statistics: BN-matching targets for the generator. */
  featureTargets: FeatureTarget[];
  /** Pooled per-layer sketches of the served student (BatchNorm inputs): statistics-only adaptation. */
  layerSketches?: LayerSketch[];
  /** Pooled input statistics of the drifted reports and of the clean reports before them: fits the field's degradation. */
  inputShift?: { field: InputStatisticMeans; baseline: InputStatisticMeans } | null;
  /** How to adapt the student: the retrain policy's `adaptation` when the run started (the controller fills every field). */
  adaptation?: AdaptationSettings;
  signal: AbortSignal;
}

export interface DistillOutcome {
  /** The new student's folder (an `edgekd distill` output: model, card, buffer), the next warm start of the line. */
  student: string;
  distillRunId: string;
  summary: Record<string, unknown>;
}

export interface PackageOutcome<A = unknown> {
  package: PackageRef;
  /** What the rollout step ships (the signed package in the pipeline; fakes pass anything). */
  artifact: A;
  summary: Record<string, unknown>;
}

export interface RolloutOutcome {
  outcome: 'promoted' | 'rolled-back';
  rolloutId: string;
  summary: Record<string, unknown>;
}

export interface RetrainSteps<A = unknown> {
  /** Re-distil warm-started from the deployed student and its replay buffer, with the field's BN targets. */
  distill(ctx: RetrainContext): Promise<DistillOutcome>;
  /** Export to ONNX, quantize on synthetic samples, build and sign the package. */
  package(ctx: RetrainContext, d: DistillOutcome): Promise<PackageOutcome<A>>;
  /** Canary rollout gated on ML quality, then promote or roll back. */
  rollout(ctx: RetrainContext, p: PackageOutcome<A>): Promise<RolloutOutcome>;
  /**
   * Stops what a run left running when it was interrupted in another process (its jobs), so an
   * interrupted run holds no compute; optional (in-process engines hold nothing after their process died).
   */
  abandon?(runId: string): Promise<void>;
}
