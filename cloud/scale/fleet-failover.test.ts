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
      leaderTtlMs: 3_000, teacherDir: join(dir, 'none'), logLevel: 'silent',
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
    // Readiness: only the leader answers 200 (a Service routes rollout changes there); both read the fleet from the store.
    const get = (c: RunningCloud, path: string): Promise<Response> => fetch(`${c.url}${path}`, { headers: { authorization: `Bearer ${c.tokens[0]!.token}` } });
    // Whichever process leads now answers 200 with its own id (on a loaded machine the lease may
    // have moved since it was first read); the other answers 503.
    const ready = await until('a process to serve fleet changes', async () => {
      for (const c of [a, b]) if ((await get(c, '/api/fleet/leader')).status === 200) return c;
      return null;
    }, 60_000);
    const says = (await (await get(ready, '/api/fleet/leader')).json()) as { processId: string; token: number };
    expect(says.processId).toBe(ready.processId);
    expect(says.token).toBeGreaterThanOrEqual(first.token);
    const other = ready === a ? b : a;
    expect((await get(other, '/api/fleet/leader')).status).toBe(503);
    expect(await (await get(other, '/api/rollouts')).json()).toEqual([]);
    // A change made on the standby is forwarded to the leader, whose answer (no such package) comes back.
    const forwarded = await fetch(`${other.url}/api/rollouts`, { method: 'POST', headers: { authorization: `Bearer ${other.tokens[0]!.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ packageId: 'none@1', target: { devices: ['d1'] } }) });
    expect(forwarded.status).toBe(404);
    expect((await forwarded.json()).code).toBe('EDGEKD_NOT_FOUND');
    await leader.close();
    clouds.splice(clouds.indexOf(leader), 1);
    const next = await until('the standby to lead', async () => standby.leader(), 30_000);
    expect(next.token).toBeGreaterThan(first.token);
    const rows = await standby.db.query<{ holder: string; token: number }>("SELECT holder, token FROM edgekd_leases WHERE role = 'fleet'");
    expect(rows).toEqual([{ holder: standby.processId, token: next.token }]);
  });
});
