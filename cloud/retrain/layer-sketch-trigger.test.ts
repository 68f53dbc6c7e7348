import { describe, expect, it } from 'vitest';
import { openSqlite } from '../store/sqlite-db';
import { createDriftService } from '../drift/drift-service';
import { fakeDriftEnvelope } from '../drift/testing-reports';
import { createRetrainController } from './retrain-controller';
import type { RetrainContext, RetrainSteps } from './steps';

describe('retrain trigger with layer sketches', () => {
  it('hands the run the trigger reports’ sketches pooled per layer (sample-weighted, with the spread between devices) and logs which layers', async () => {
    const now = 1_800_000_000_000;
    const db = openSqlite(':memory:');
    const drift = createDriftService({ db, clock: () => now, cohortOf: () => 'site-1' });
    await drift.migrate();
    const seen: RetrainContext[] = [];
    const steps: RetrainSteps = {
      async distill(ctx) {
        seen.push(ctx);
        return { student: 's', distillRunId: 'd', summary: {} };
      },
      async package() {
        return { package: { name: 'fm-student', version: 4, sha256: 'd'.repeat(64) }, artifact: null, summary: {} };
      },
      async rollout() {
        return { outcome: 'promoted', rolloutId: 'r', summary: {} };
      },
    };
    const ctl = createRetrainController({ db, clock: () => now, drift, steps, policy: { minAlarmDurationMs: 0 } });
    // Two drifted devices with different field means, one clean device (not evidence).
    const devices = [
      { id: 'dev0', alarm: true, mean: 1, n: 300 },
      { id: 'dev1', alarm: true, mean: 3, n: 900 },
      { id: 'dev2', alarm: false, mean: 100, n: 300 },
    ];
    for (const d of devices) {
      await drift.ingest(fakeDriftEnvelope({ deviceId: d.id, key: d.id, p: d.alarm ? 1e-9 : 0.5, alarm: d.alarm, at: now, sketches: [{ layer: 'conv1_bn', mean: [d.mean, 0], variance: [1, 2], sampleCount: d.n }] }));
    }
    const [r] = await ctl.tick();
    expect(r!.decision.action).toBe('start');
    await ctl.idle();
    const pooled = seen[0]!.layerSketches!;
    expect(pooled).toHaveLength(1);
    expect(pooled[0]!.sampleCount).toBe(1200);
    expect(pooled[0]!.mean[0]).toBeCloseTo((300 * 1 + 900 * 3) / 1200, 9);
    // 1 within + between-device spread: (300·(1−2.5)² + 900·(3−2.5)²)/1200 = 0.75.
    expect(pooled[0]!.variance[0]).toBeCloseTo(1.75, 9);
    expect(pooled[0]!.variance[1]).toBeCloseTo(2, 9);
    const started = (await drift.actions()).find((a) => a.kind === 'retrain-started')!;
    expect(started.details.layerSketches).toEqual(['conv1_bn (n 1200)']);
    await db.close();
  });
});
