import type { LayerSketch } from '../../shared/drift/reference';

/**
 * The retrain pipeline's steps as small interfaces, so the orchestration is testable with fakes
 * and wired to the real engines (cloud/distill, cloud/export + shared/package, cloud/fleet) by
 * `engine-steps.ts`. Each step returns what the next needs plus a JSON summary for the run record.
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
  signal: AbortSignal;
}

export interface DistillOutcome {
  /** Where the new student is (a model directory or an in-memory handle the export step knows). */
  student: unknown;
  distillRunId: string;
  summary: Record<string, unknown>;
}

export interface PackageOutcome {
  package: PackageRef;
  /** Anything the rollout step needs (file path, bytes). */
  artifact: unknown;
  summary: Record<string, unknown>;
}

export interface RolloutOutcome {
  outcome: 'promoted' | 'rolled-back';
  rolloutId: string;
  summary: Record<string, unknown>;
}

export interface RetrainSteps {
  /** Re-distil warm-started from the deployed student and its replay buffer, with the field's BN targets. */
  distill(ctx: RetrainContext): Promise<DistillOutcome>;
  /** Export to ONNX, quantize on synthetic samples, build and sign the package. */
  package(ctx: RetrainContext, d: DistillOutcome): Promise<PackageOutcome>;
  /** Canary rollout gated on ML quality, then promote or roll back. */
  rollout(ctx: RetrainContext, p: PackageOutcome): Promise<RolloutOutcome>;
}
