import { EdgekdError } from '../../shared/errors';
import type { PackageContents } from '../../shared/package/verify-package';
import type { RolloutTarget } from '../fleet/rollout/rollout-spec';
import { rolloutTargetOfCohort } from './cohort';
import type { DistillOutcome, PackageOutcome, RetrainContext, RetrainSteps, RolloutOutcome } from './steps';

/**
 * The engines a retrain run needs, injected: `edgekd cloud` runs them as jobs (`job-engines.ts`),
 * the benchmark and tests in process (`engine-steps.ts`).
 */
export interface RetrainEngines<A extends PackageContents = PackageContents> {
  /** Distil warm-started from the deployed student (or adapt its statistics) → the new student folder. */
  adapt(ctx: RetrainContext): Promise<DistillOutcome>;
  /** Export to ONNX, int8 on synthetic samples, sign → the package, next version of the line. */
  package(ctx: RetrainContext, d: DistillOutcome): Promise<PackageOutcome<A>>;
  /** Frees what the run held (models in memory); called once the run's rollout has ended. */
  release?(ctx: RetrainContext): void;
  /** Stops the work of a run interrupted in another process (RetrainSteps.abandon). */
  abandon?(runId: string): Promise<void>;
}

/** Registers and rolls out a signed package to `target`, waiting for promotion or roll back. */
export type RolloutEngine<A extends PackageContents = PackageContents> = (pkg: A, target: RolloutTarget, ctx: RetrainContext) => Promise<RolloutOutcome>;

export interface RetrainPipelineOptions<A extends PackageContents> {
  engines: RetrainEngines<A>;
  rollout: RolloutEngine<A>;
  /** The devices a cohort's retrained model goes to (default: `rolloutTargetOfCohort`). */
  targetOf?: (cohort: string) => RolloutTarget | null;
}

/**
 * THE retrain pipeline, the one `edgekd cloud`, the demo and `bench:drift` run: adapt (distil
 * warm-started with the field's statistics) → package (export + int8 + sign) → rollout (canary
 * and waves with gates) to exactly the alarming cohort's devices. The retrain controller runs
 * these steps, records them and applies the policy; only the engines differ between callers.
 */
export function createRetrainPipeline<A extends PackageContents>(o: RetrainPipelineOptions<A>): RetrainSteps<A> {
  const targetOf = o.targetOf ?? rolloutTargetOfCohort;
  const engines = o.engines;
  return {
    ...(engines.abandon ? { abandon: (runId: string) => engines.abandon!(runId) } : {}),
    async distill(ctx) {
      // Checked before any compute is spent: a run whose package could go nowhere must not start.
      if (!targetOf(ctx.cohort)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `cohort ${ctx.cohort} names no devices to roll a retrained model out to`);
      return o.engines.adapt(ctx);
    },
    package: (ctx, d) => o.engines.package(ctx, d),
    async rollout(ctx, p) {
      try {
        const target = targetOf(ctx.cohort);
        if (!target) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `cohort ${ctx.cohort} names no devices to roll the retrained model out to`);
        const r = await o.rollout(p.artifact, target, ctx);
        return { ...r, summary: { ...r.summary, target } };
      } finally {
        o.engines.release?.(ctx);
      }
    },
  };
}
