import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDriftService, type DriftService } from '../drift/drift-service';
import { fakeDriftEnvelope } from '../drift/testing-reports';
import { createRetrainController } from '../retrain/retrain-controller';
import type { RetrainSteps } from '../retrain/steps';
import { openSqlite } from '../store/sqlite-db';
import type { SqlDb } from '../store/sql-db';
import { LeaderLease } from './leader-lease';
import type { Logger } from '../../shared/log/logger';

const TTL = 10_000;
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined, child: () => quiet } as unknown as Logger;

// Steps that finish at once: the test is about whether a run starts, not what it does.
const steps: RetrainSteps = {
  distill: async () => ({ student: 's', distillRunId: 'd-1', summary: {} }),
  package: async () => ({ package: { name: 'fm-student', version: 4, sha256: 'd'.repeat(64) }, artifact: null, summary: {} }),
  rollout: async () => ({ outcome: 'promoted', rolloutId: 'r-1', summary: {} }),
};

describe('retrain runs start in a fenced write (the fleet leader lease)', () => {
  let dir: string;
  let db: SqlDb;
  let now: number;
  let drift: DriftService;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgekd-retrain-fence-'));
    // Two handles on one file stand for the old leader's and the new leader's connections.
    db = openSqlite(join(dir, 'cloud.db'));
    now = 1_800_000_000_000;
    drift = createDriftService({ db, clock: () => now, cohortOf: () => 'site-1' });
    await drift.migrate();
    for (let i = 0; i < 10; i++) {
      await drift.ingest(fakeDriftEnvelope({ deviceId: `s1-dev${i}`, key: `k-${i}`, p: i < 4 ? 1e-8 : 0.4, alarm: i < 4, at: now }));
    }
  });
  afterEach(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const runCount = async (): Promise<number> => Number((await db.query<{ n: number }>('SELECT COUNT(*) AS n FROM drift_retrain_runs'))[0]!.n);

  it('a leader whose lease a successor took starts no run (EDGEKD_FENCED); the current leader starts one', async () => {
    const clock = (): number => now;
    const a = await LeaderLease.open({ db, role: 'fleet', holder: 'fleet-a', ttlMs: TTL, now: clock });
    const b = await LeaderLease.open({ db, role: 'fleet', holder: 'fleet-b', ttlMs: TTL, now: clock });
    const fa = (await a.tryAcquire())!;
    const policy = { minAlarmDurationMs: 0 };
    const old = createRetrainController({ db, clock, drift, steps, policy, fence: fa, newId: () => 'run-old' });

    // a is paused past its lease; b takes over with the next token.
    now += TTL + 1;
    const fb = (await b.tryAcquire())!;
    expect(fb.token).toBe(fa.token + 1);
    await expect(old.tick()).rejects.toMatchObject({ code: 'EDGEKD_FENCED' });
    expect(await runCount()).toBe(0);

    const current = createRetrainController({ db, clock, drift, steps, policy, fence: fb, newId: () => 'run-new' });
    const ticked = await current.tick();
    expect(ticked.map((t) => [t.decision.action, t.runId])).toEqual([['start', 'run-new']]);
    await current.idle();
    expect(await runCount()).toBe(1);
    expect((await current.run('run-new'))!.state).toBe('promoted');
  });

  it('a run in flight when its leader died is interrupted by the successor, which starts a new run for the same alarm; the old leader cannot overwrite it', async () => {
    const clock = (): number => now;
    const a = await LeaderLease.open({ db, role: 'fleet', holder: 'fleet-a', ttlMs: TTL, now: clock });
    const b = await LeaderLease.open({ db, role: 'fleet', holder: 'fleet-b', ttlMs: TTL, now: clock });
    const fa = (await a.tryAcquire())!;
    const policy = { minAlarmDurationMs: 0 };
    // The old leader's run is stuck in its distill step when the leader stops (paused, then gone).
    let wake!: () => void;
    const stuck = new Promise<void>((r) => (wake = r));
    const slow: RetrainSteps = { ...steps, distill: async () => (await stuck, steps.distill({} as never)) };
    const old = createRetrainController({ db, clock, drift, steps: slow, policy, fence: fa, newId: () => 'run-old', logger: quiet });
    expect((await old.tick()).map((t) => t.runId)).toEqual(['run-old']);
    expect((await old.run('run-old'))!.state).toBe('distilling');

    now += TTL + 1;
    const fb = (await b.tryAcquire())!;
    const abandoned: string[] = [];
    const successor = createRetrainController({ db, clock, drift, steps: { ...steps, abandon: async (id) => void abandoned.push(id) }, policy, fence: fb, newId: () => 'run-new', logger: quiet });
    const ticked = await successor.tick();
    // No cool-down from the interrupted run: the still-open alarm starts a new run at once.
    expect(ticked.map((t) => [t.decision.action, t.runId])).toEqual([['start', 'run-new']]);
    await successor.idle();
    const interrupted = (await successor.run('run-old'))!;
    expect(interrupted.state).toBe('interrupted');
    expect(interrupted.error).toMatch(/interrupted in step distilling/);
    expect((await successor.run('run-new'))!.state).toBe('promoted');
    const actions = await drift.actions(50);
    expect(actions.filter((x) => x.kind === 'retrain-interrupted').map((x) => x.details.runId)).toEqual(['run-old']);
    // What the interrupted run left running (its jobs) is stopped.
    expect(abandoned).toEqual(['run-old']);

    // The old leader wakes up: its run's next write is fenced, so the record stays as the successor left it.
    wake();
    await old.idle();
    expect((await successor.run('run-old'))!.state).toBe('interrupted');
    expect(await runCount()).toBe(2);
  });
});
