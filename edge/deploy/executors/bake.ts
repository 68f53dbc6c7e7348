import { EdgekdError } from '../../../shared/errors';
import { percentile } from '../../../shared/math/percentile';
import type { ExecContext, StepResult } from '../exec-context';
import type { StepOf } from '../steps';

const POLL_MS = 200;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/**
 * The new model serves live traffic for `bakeMs` (counted from activation, across restarts) while
 * the offer's local gates are checked; a breach throws EDGEKD_GATE_FAILED and the deployment rolls
 * back. Success only after the whole bake: "committed" means activated, warmed up and survived.
 */
export async function runBake(step: StepOf<'bake'>, ctx: ExecContext): Promise<StepResult> {
  const gate = step.offer.activation?.bakeGate ?? {};
  const metrics = (): { inferences: number; errors: number; p95LatencyMs: number | null; bakedMs: number } => {
    const w = ctx.runtime.bakeWindow();
    return { inferences: w.count, errors: w.errors, p95LatencyMs: percentile(w.latenciesMs, 95), bakedMs: Math.max(0, Math.round(ctx.nowMs() - step.startedAtMs)) };
  };
  const check = (final: boolean): void => {
    const m = metrics();
    const total = m.inferences + m.errors;
    const fail = (why: string): never => {
      ctx.note({});
      throw new EdgekdError('EDGEKD_GATE_FAILED', `bake gate: ${why}`, { details: { bake: m } });
    };
    if (gate.maxErrorRate !== undefined && total > 0 && m.errors / total > gate.maxErrorRate) fail(`error rate ${(m.errors / total).toFixed(3)} > ${gate.maxErrorRate}`);
    if (gate.maxP95LatencyMs !== undefined && m.p95LatencyMs !== null && m.p95LatencyMs > gate.maxP95LatencyMs) fail(`p95 latency ${m.p95LatencyMs.toFixed(1)} ms > ${gate.maxP95LatencyMs} ms`);
    if (final && gate.minInferences !== undefined && m.inferences < gate.minInferences) fail(`${m.inferences} inferences < ${gate.minInferences}`);
  };
  const end = step.startedAtMs + step.bakeMs;
  while (ctx.nowMs() < end) {
    if (ctx.signal.aborted) throw ctx.signal.reason;
    check(false);
    await sleep(Math.min(POLL_MS, end - ctx.nowMs()), ctx.signal);
  }
  if (ctx.signal.aborted) throw ctx.signal.reason;
  check(true);
  await ctx.runtime.release(ctx.memory.previous);
  ctx.memory.previous = null;
  return { report: { bake: metrics() } };
}
