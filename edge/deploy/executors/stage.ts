import type { ExecContext, StepResult } from '../exec-context';
import type { StepOf } from '../steps';

/** Copies the verified file into the inactive slot with its manifest and signature, fsynced. */
export async function runStage(step: StepOf<'stage'>, ctx: ExecContext): Promise<StepResult> {
  await ctx.slots.stage(step.slot, ctx.partPath, step.offer.manifest, step.offer.signature);
  return { patch: { slot: step.slot } };
}
