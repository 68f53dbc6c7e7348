import { EdgekdError } from '../../../shared/errors';
import { manifestOf } from '../deployment-record';
import type { ExecContext, StepResult } from '../exec-context';
import type { StepOf } from '../steps';

/** The candidate runs beside the active model on live inputs; agreement below the offer's minimum fails the deployment before activation. */
export async function runShadow(step: StepOf<'shadow'>, ctx: ExecContext): Promise<StepResult> {
  if (!ctx.memory.candidate) ctx.memory.candidate = await ctx.models.load(step.slot, manifestOf(ctx.record));
  const shadow = await ctx.runtime.shadow(ctx.memory.candidate, step.inferences, step.maxWaitMs, ctx.signal);
  ctx.note({ shadow });
  if (step.minAgreement !== null && shadow.agreement !== null && shadow.agreement < step.minAgreement) {
    throw new EdgekdError('EDGEKD_GATE_FAILED', `shadow agreement ${shadow.agreement.toFixed(3)} is below ${step.minAgreement} over ${shadow.inferences} inferences`, {
      details: { shadow },
    });
  }
  return { patch: { shadow }, report: { shadow } };
}
