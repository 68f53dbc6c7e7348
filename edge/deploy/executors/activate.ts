import { manifestOf } from '../deployment-record';
import type { ExecContext, StepResult } from '../exec-context';
import type { StepOf } from '../steps';

/**
 * The switch. The pointer rename is the commit point on disk; the in-memory swap follows. Re-run
 * after a crash, it finds the pointer already switched and only swaps in memory.
 */
export async function runActivate(step: StepOf<'activate'>, ctx: ExecContext): Promise<StepResult> {
  const candidate = ctx.memory.candidate ?? (await ctx.models.load(step.slot, manifestOf(ctx.record)));
  const pointer = await ctx.slots.readPointer();
  if (!(pointer?.active.slot === step.slot && pointer.active.model.sha256 === candidate.ref.sha256)) {
    await ctx.slots.activate({ slot: step.slot, model: candidate.ref });
  }
  const before = ctx.runtime.setActive(candidate);
  if (before !== candidate) {
    await ctx.runtime.release(ctx.memory.previous);
    ctx.memory.previous = before;
  }
  ctx.memory.candidate = null;
  ctx.runtime.markBakeStart();
  return { patch: { bakeStartedAtMs: ctx.nowMs() } };
}
