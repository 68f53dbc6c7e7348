import type { ExecContext, StepResult } from '../exec-context';
import type { StepOf } from '../steps';

/**
 * Puts the previous slot back: pointer first (atomic), then the in-memory session (the kept one
 * if it is the same build, else loaded from the slot). With no previous slot (a first install)
 * the device serves nothing again, which is the state it was in before.
 */
export async function runRollBack(_step: StepOf<'rollBack'>, ctx: ExecContext): Promise<StepResult> {
  const pointer = await ctx.slots.revert();
  let restored = null;
  if (pointer) {
    const kept = ctx.memory.previous;
    restored = kept && kept.ref.sha256 === pointer.active.model.sha256 ? kept : await ctx.models.loadStaged(pointer.active.slot);
  }
  const failed = ctx.runtime.setActive(restored);
  if (failed !== restored) await ctx.runtime.release(failed);
  if (ctx.memory.previous !== restored) await ctx.runtime.release(ctx.memory.previous);
  await ctx.runtime.release(ctx.memory.candidate);
  ctx.memory.previous = null;
  ctx.memory.candidate = null;
  return {};
}
