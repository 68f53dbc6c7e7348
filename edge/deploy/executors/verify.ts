import { readFile } from 'node:fs/promises';
import { verifyPackage } from '../../../shared/package';
import type { ExecContext, StepResult } from '../exec-context';
import type { StepOf } from '../steps';

/** Full check of the downloaded bytes: schema, key trust, Ed25519 signature, size and sha256. */
export async function runVerify(step: StepOf<'verify'>, ctx: ExecContext): Promise<StepResult> {
  const model = await readFile(ctx.partPath);
  const r = verifyPackage({ manifest: step.offer.manifest, signature: step.offer.signature, model }, ctx.trustedKeys, { now: new Date(ctx.nowMs()) });
  if (!r.ok) throw r.error;
  return {};
}
