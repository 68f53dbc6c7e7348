import type { StepOf } from '../steps';
import type { ExecContext, StepResult } from '../exec-context';
import { preflightCheck } from '../preflight';

export async function runPreflight(step: StepOf<'preflight'>, ctx: ExecContext): Promise<StepResult> {
  preflightCheck(step.offer, {
    trustedKeys: ctx.trustedKeys,
    activeModel: ctx.runtime.active()?.ref ?? null,
    runtimeVersion: ctx.runtimeVersion,
    maxOpset: ctx.maxOpset,
    maxModelBytes: ctx.config.download.maxModelBytes,
    diskFreeBytes: await ctx.diskFreeBytes(),
    now: new Date(ctx.nowMs()),
    deviceId: ctx.config.deviceId,
    groups: ctx.config.groups,
  });
  return { report: { bytesDone: 0, bytesTotal: step.offer.delivery.sizeBytes, transport: step.offer.delivery.prefer === 'http' && step.offer.delivery.http ? 'http' : 'mqtt' } };
}
