import { percentile } from '../../../shared/math/percentile';
import { manifestOf } from '../deployment-record';
import type { ExecContext, StepResult } from '../exec-context';
import type { StepOf } from '../steps';

/**
 * Creates the session (this is where TensorRT builds its engine on a Jetson, which can take
 * minutes: it is a step with its own deadline, and health gates start only after it) and runs
 * warm-up inferences on a zero input.
 */
export async function runWarm(step: StepOf<'warm'>, ctx: ExecContext): Promise<StepResult> {
  await ctx.runtime.release(ctx.memory.candidate);
  ctx.memory.candidate = null;
  const candidate = await ctx.models.load(step.slot, manifestOf(ctx.record));
  const latencies = await ctx.runtime.warmUp(candidate, step.runs);
  ctx.memory.candidate = candidate;
  const warmup = {
    sessionCreateMs: candidate.sessionCreateMs,
    runs: step.runs,
    p50LatencyMs: percentile(latencies, 50) ?? 0,
    executionProvider: candidate.session.provider,
  };
  return { patch: { warmup }, report: { warmup } };
}
