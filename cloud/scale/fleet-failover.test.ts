import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeWithMosquitto, describeWithPostgres, MOSQUITTO_URL, POSTGRES_URL } from '../../test/helpers/services';
import { startCloud, type RunningCloud } from '../api/start-cloud';
import { pgSchema, until } from './postgres-schema.test-helper';

// Runs when both services answer; skipped (or failing, with EDGEKD_REQUIRE_SERVICES=1) otherwise.
const withPg = await describeWithPostgres();
const withMq = await describeWithMosquitto();
const d = withMq === describe ? withPg : withMq;

d('two fleet-role processes on PostgreSQL and Mosquitto', () => {
  const pg = pgSchema();
  const dirs: string[] = [];
  const clouds: RunningCloud[] = [];
  afterAll(async () => {
    for (const c of clouds) await c.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
  const fleetProcess = async (processId: string): Promise<RunningCloud> => {
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-fleet-role-'));
    dirs.push(dir);
    const c = await startCloud({
      dataDir: dir, db: POSTGRES_URL, dbSchema: pg.schema, role: 'fleet', processId, port: 0, brokerUrl: MOSQUITTO_URL,
      leaderTtlMs: 1_500, teacherDir: join(dir, 'none'), logLevel: 'silent',
    });
    clouds.push(c);
    return c;
  };

  it('elect one leader; the standby takes over with a newer token when the leader goes', async () => {
    const suffix = pg.schema.slice(-6);
    const a = await fleetProcess(`fleet-a-${suffix}`);
    const b = await fleetProcess(`fleet-b-${suffix}`);
    const leader = await until('a leader', async () => (a.leader() ? a : b.leader() ? b : null), 30_000);
    const standby = leader === a ? b : a;
    const first = leader.leader()!;
    expect(standby.leader()).toBeNull();
    expect(leader.absent['fleet routes']).toMatch(/not served by split roles yet/);
    await leader.close();
    clouds.splice(clouds.indexOf(leader), 1);
    const next = await until('the standby to lead', async () => standby.leader(), 30_000);
    expect(next.token).toBeGreaterThan(first.token);
    const rows = await standby.db.query<{ holder: string; token: number }>("SELECT holder, token FROM edgekd_leases WHERE role = 'fleet'");
    expect(rows).toEqual([{ holder: standby.processId, token: next.token }]);
  });
});
