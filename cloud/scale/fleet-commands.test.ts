import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgekdError } from '../../shared/errors';
import { describeWithPostgres, POSTGRES_URL } from '../../test/helpers/services';
import type { RolloutSummary } from '../fleet/rollout-summary';
import type { SqlDb } from '../store/sql-db';
import { createFleetCommandSender, startFleetCommandApplier, type ApplierOptions } from './fleet-commands';
import { LeaderLease } from './leader-lease';
import { pgSchema, until } from './postgres-schema.test-helper';

const d = await describeWithPostgres();

/** A controller stand-in that records what it was asked (the rollout engine is not the subject here). */
function recordingFleet(): ApplierOptions['fleet'] & { calls: string[] } {
  const calls: string[] = [];
  const summary = (id: string, status: string): RolloutSummary => ({ id, status }) as unknown as RolloutSummary;
  return {
    calls,
    createRollout: async (req) => (calls.push(`create ${req.packageId}`), summary('ro-new', 'running')),
    pauseRollout: async (id) => {
      calls.push(`pause ${id}`);
      throw new EdgekdError('EDGEKD_ROLLOUT_STATE', `rollout '${id}' is completed`);
    },
    resumeRollout: async (id) => (calls.push(`resume ${id}`), summary(id, 'running')),
    abortRollout: async (id, reason) => (calls.push(`abort ${id} ${reason ?? ''}`), summary(id, 'rolling_back')),
  };
}

d('rollout changes forwarded to the fleet leader through PostgreSQL', () => {
  const pg = pgSchema();
  let api: SqlDb;
  let leader: SqlDb;
  let lease: LeaderLease;
  beforeAll(async () => {
    // Two connections stand for an `api` process and the fleet leader.
    api = await pg.open();
    leader = await pg.open();
    lease = await LeaderLease.open({ db: leader, role: 'fleet', holder: 'fleet-1', ttlMs: 60_000 });
  });
  afterAll(async () => {
    await api?.exec(`DROP SCHEMA IF EXISTS "${pg.schema}" CASCADE`);
    await api?.close();
    await leader?.close();
  });

  it('applies a change sent from another process and answers with the leader\'s outcome or its typed error', async () => {
    const fence = (await lease.tryAcquire())!;
    const fleet = recordingFleet();
    const stop = await startFleetCommandApplier({ db: leader, fence, holder: 'fleet-1', fleet, connectionString: POSTGRES_URL, schema: pg.schema, pollMs: 60_000 });
    try {
      const sender = createFleetCommandSender({ db: api, sender: 'api-1', schema: pg.schema, timeoutMs: 10_000, pollMs: 20 });
      // The leader polls once a minute here: an answer within the test comes through NOTIFY.
      expect(await sender.send({ kind: 'create', request: { packageId: 'm@1', target: { devices: ['d1'] } } })).toEqual({ id: 'ro-new', status: 'running' });
      expect(await sender.send({ kind: 'abort', rolloutId: 'ro-new', reason: 'operator' })).toEqual({ id: 'ro-new', status: 'rolling_back' });
      await expect(sender.send({ kind: 'pause', rolloutId: 'ro-old' })).rejects.toMatchObject({ code: 'EDGEKD_ROLLOUT_STATE', message: "rollout 'ro-old' is completed" });
      expect(fleet.calls).toEqual(['create m@1', 'abort ro-new operator', 'pause ro-old']);
      // A malformed change is refused where it is made, and never reaches the leader.
      await expect(sender.send({ kind: 'create', request: { packageId: '' } } as never)).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
      const rows = await api.query<{ state: string; applied_by: string; token: number }>('SELECT state, applied_by, token FROM edgekd_fleet_commands ORDER BY created_at');
      expect(rows.map((r) => [r.state, r.applied_by, Number(r.token)])).toEqual([['done', 'fleet-1', fence.token], ['done', 'fleet-1', fence.token], ['failed', 'fleet-1', fence.token]]);
    } finally {
      await stop();
    }
  });

  it('times out with EDGEKD_LEADER_TIMEOUT when no leader takes it, and a leader elected later does not apply the withdrawn change', async () => {
    const sender = createFleetCommandSender({ db: api, sender: 'api-1', schema: pg.schema, timeoutMs: 300, pollMs: 20 });
    await expect(sender.send({ kind: 'resume', rolloutId: 'ro-x' })).rejects.toMatchObject({ code: 'EDGEKD_LEADER_TIMEOUT', message: expect.stringMatching(/nothing was changed/) });
    const fleet = recordingFleet();
    const fence = (await lease.tryAcquire())!; // elected after the sender gave up
    const stop = await startFleetCommandApplier({ db: leader, fence, holder: 'fleet-1', fleet, pollMs: 50 });
    await new Promise((r) => setTimeout(r, 300));
    await stop();
    expect(fleet.calls).toEqual([]);
    const [row] = await api.query<{ state: string }>("SELECT state FROM edgekd_fleet_commands WHERE body LIKE '%ro-x%'");
    expect(row!.state).toBe('withdrawn');
  });

  it('a leader whose lease a successor took applies nothing (fenced); the successor applies the change', async () => {
    await lease.release((await lease.tryAcquire())!);
    let now = Date.now() + 1;
    const clock = (): number => now;
    const oldLease = await LeaderLease.open({ db: leader, role: 'fleet', holder: 'fleet-old', ttlMs: 1_000, now: clock });
    const newLease = await LeaderLease.open({ db: api, role: 'fleet', holder: 'fleet-new', ttlMs: 1_000, now: clock });
    const stale = (await oldLease.tryAcquire())!;
    now += 2_000; // the old leader was paused past its lease
    const current = (await newLease.tryAcquire())!;
    expect(current.token).toBeGreaterThan(stale.token);
    const oldFleet = recordingFleet();
    const warnings: unknown[] = [];
    const log = { warn: (o: unknown) => warnings.push(o), info: () => undefined } as unknown as ApplierOptions['log'];
    const stopOld = await startFleetCommandApplier({ db: leader, fence: stale, holder: 'fleet-old', fleet: oldFleet, pollMs: 30, log });
    const sender = createFleetCommandSender({ db: api, sender: 'api-1', schema: pg.schema, timeoutMs: 10_000, pollMs: 20 });
    const answer = sender.send({ kind: 'resume', rolloutId: 'ro-y' });
    await until('the stale leader to be refused', async () => warnings.length > 0);
    expect(oldFleet.calls).toEqual([]);
    const newFleet = recordingFleet();
    const stopNew = await startFleetCommandApplier({ db: api, fence: current, holder: 'fleet-new', fleet: newFleet, pollMs: 30 });
    try {
      expect(await answer).toEqual({ id: 'ro-y', status: 'running' });
      expect(newFleet.calls).toEqual(['resume ro-y']);
      expect(oldFleet.calls).toEqual([]);
    } finally {
      await stopOld();
      await stopNew();
    }
  });
});
