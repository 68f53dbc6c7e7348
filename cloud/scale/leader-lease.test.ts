import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe as plainDescribe, expect, it } from 'vitest';
import { describeWithPostgres } from '../../test/helpers/services';
import { createRolloutState } from '../fleet/rollout/rollout-engine';
import { withDefaults } from '../fleet/rollout/rollout-spec';
import { FleetStore } from '../fleet/store/fleet-store';
import { openSqlite } from '../store/sqlite-db';
import type { SqlDb } from '../store/sql-db';
import { createLeaderElector } from './leader-elector';
import { fencedWrite } from './fenced-write';
import { LeaderLease } from './leader-lease';
import { pgSchema } from './postgres-schema.test-helper';

const TTL = 10_000;
const d = await describeWithPostgres();

d('fleet leader lease on PostgreSQL (two processes, one clock)', () => {
  const pg = pgSchema();
  const dbs: SqlDb[] = [];
  let clock = 1_000_000;
  const now = (): number => clock;
  const proc = async (holder: string): Promise<{ db: SqlDb; lease: LeaderLease }> => {
    const db = await pg.open();
    dbs.push(db);
    return { db, lease: await LeaderLease.open({ db, role: 'fleet', holder, ttlMs: TTL, now }) };
  };
  afterAll(async () => {
    for (const db of dbs) await db.close();
  });

  it('has one holder at a time; a standby takes over once the lease lapses, with a newer token', async () => {
    const a = await proc('fleet-a');
    const b = await proc('fleet-b');
    const fa = await a.lease.tryAcquire();
    expect(fa).toEqual({ role: 'fleet', token: 1 });
    expect(await b.lease.tryAcquire()).toBeNull();
    clock += TTL / 2;
    expect(await a.lease.renew(fa!)).toBe(true);
    clock += TTL / 2 + 1; // renewed half-way, so still live
    expect(await b.lease.tryAcquire()).toBeNull();
    clock += TTL; // a stopped renewing (paused): lapsed
    const fb = await b.lease.tryAcquire();
    expect(fb).toEqual({ role: 'fleet', token: 2 });
    expect(await a.lease.renew(fa!)).toBe(false);
    expect(await b.lease.current()).toMatchObject({ holder: 'fleet-b', token: 2 });
    // Release lets a standby in without waiting out the ttl; the token still only grows.
    await b.lease.release(fb!);
    expect(await a.lease.tryAcquire()).toEqual({ role: 'fleet', token: 3 });
  });

  it("refuses a paused old leader's rollout write once a successor holds a newer token", async () => {
    const a = await proc('fleet-c');
    const b = await proc('fleet-d');
    clock += 10 * TTL;
    const fa = (await a.lease.tryAcquire())!;
    const storeA = await FleetStore.open(a.db);
    const storeB = await FleetStore.open(b.db);
    storeA.setFence(fa);
    const s = createRolloutState('r-fenced', withDefaults({ packageId: 'm@1', target: { devices: ['x', 'y'] } }), ['x', 'y'], clock);
    await storeA.saveRollout(s, 1);
    // a is paused past its lease (SIGSTOP); b takes over and writes.
    clock += TTL + 1;
    const fb = (await b.lease.tryAcquire())!;
    expect(fb.token).toBe(fa.token + 1);
    storeB.setFence(fb);
    await storeB.saveRollout({ ...s, status: 'paused', updatedAt: clock }, 7);
    // a resumes (SIGCONT) and tries to write its stale snapshot.
    await expect(storeA.saveRollout({ ...s, status: 'aborted', updatedAt: clock + 1 }, 9)).rejects.toMatchObject({ code: 'EDGEKD_FENCED' });
    const rows = await b.db.query<{ status: string; applied_report_seq: number }>('SELECT status, applied_report_seq FROM fleet_rollouts WHERE rollout_id = ?', ['r-fenced']);
    expect(rows).toEqual([{ status: 'paused', applied_report_seq: 7 }]);
  });

  it('orders a takeover after a fenced write already in flight (row lock), never in the middle of it', async () => {
    const a = await proc('fleet-e');
    const b = await proc('fleet-f');
    clock += 10 * TTL;
    const fa = (await a.lease.tryAcquire())!;
    await a.db.exec('CREATE TABLE IF NOT EXISTS fenced_probe (k TEXT PRIMARY KEY, v TEXT)');
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const order: string[] = [];
    const write = fencedWrite(a.db, fa, async (tx) => {
      await tx.exec("INSERT INTO fenced_probe (k, v) VALUES ('k', 'from-a')");
      await held;
      order.push('a committed');
    });
    await new Promise((r) => setTimeout(r, 100)); // a's transaction holds the lease row
    clock += TTL + 1;
    const takeover = b.lease.tryAcquire().then((f) => {
      order.push('b acquired');
      return f;
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(order).toEqual([]); // b waits for a's transaction
    release();
    await write;
    expect((await takeover)?.token).toBe(fa.token + 1);
    expect(order).toEqual(['a committed', 'b acquired']);
    await expect(fencedWrite(a.db, fa, async () => 'late')).rejects.toMatchObject({ code: 'EDGEKD_FENCED' });
  });

  it('runs a hot standby that starts leading when the leader stops renewing, and deposes the old one', async () => {
    const a = await proc('fleet-g');
    const b = await proc('fleet-h');
    clock += 10 * TTL;
    const log: string[] = [];
    const elector = (name: string, lease: LeaderLease) =>
      createLeaderElector({
        lease,
        ttlMs: TTL,
        now,
        async onElected(fence) {
          log.push(`${name} leads with ${fence.token}`);
          return async () => void log.push(`${name} stops`);
        },
      });
    const ea = elector('a', a.lease);
    const eb = elector('b', b.lease);
    await ea.step();
    await eb.step();
    const first = ea.fence()!.token;
    expect(eb.fence()).toBeNull();
    clock += TTL + 1; // a is paused: no step
    await eb.step();
    await ea.step(); // a wakes up, tries to renew, finds the lease gone
    expect(log).toEqual([`a leads with ${first}`, `b leads with ${first + 1}`, 'a stops']);
    expect(ea.fence()).toBeNull();
    await eb.stop();
    expect(log.at(-1)).toBe('b stops');
    await ea.step(); // released: a takes over at once
    expect(ea.fence()?.token).toBe(first + 2);
    await ea.stop();
  });
});

plainDescribe('fleet leader lease on SQLite (one process per file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-lease-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a second process in the fleet role with a clear error naming the first', async () => {
    const file = join(dir, 'cloud.db');
    const first = openSqlite(file);
    const second = openSqlite(file); // another connection to the same file, as a second process has
    try {
      const l1 = await LeaderLease.open({ db: first, role: 'fleet', holder: 'host-1-aaaa', ttlMs: TTL });
      const l2 = await LeaderLease.open({ db: second, role: 'fleet', holder: 'host-1-bbbb', ttlMs: TTL });
      await l1.acquireOrRefuse();
      const err = await l2.acquireOrRefuse().catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'EDGEKD_LEADER_HELD' });
      expect((err as Error).message).toMatch(/'host-1-aaaa' already runs the fleet role on this SQLite file.*PostgreSQL/);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
