import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeWithMosquitto, describeWithPostgres, MOSQUITTO_URL, POSTGRES_URL } from '../../test/helpers/services';
import type { SqlDb } from '../store/sql-db';
import { pgSchema, until } from './postgres-schema.test-helper';

const root = resolve(__dirname, '../..');
const withPg = await describeWithPostgres();
const withMq = await describeWithMosquitto();
const d = withMq === describe ? withPg : withMq;

d('a fleet leader process paused with SIGSTOP (edgekd cloud --role fleet)', () => {
  const pg = pgSchema();
  const children: ChildProcess[] = [];
  const dirs: string[] = [];
  let db: SqlDb | undefined;
  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGCONT');
        c.kill('SIGKILL');
      }
    }
    await db?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const start = (processId: string): { child: ChildProcess; out: () => string } => {
    const dir = mkdtempSync(join(tmpdir(), 'edgekd-fleet-proc-'));
    dirs.push(dir);
    const child = spawn(process.execPath, [
      join(root, 'bin/edgekd.mjs'), 'cloud', '--role', 'fleet', '--process-id', processId, '--data', dir,
      '--db', POSTGRES_URL, '--db-schema', pg.schema, '--broker', MOSQUITTO_URL, '--port', '0', '--teacher', join(dir, 'none'),
    ], { cwd: root, env: { ...process.env, EDGEKD_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    return { child, out: () => out };
  };

  it('loses the lease to the standby within the ttl and, resumed, steps down instead of leading on', { timeout: 180_000 }, async () => {
    db = await pg.open();
    const lease = async (): Promise<{ holder: string; token: number } | undefined> =>
      (await db!.query<{ holder: string; token: number }>("SELECT holder, token FROM edgekd_leases WHERE role = 'fleet'").catch(() => []))[0];
    const suffix = pg.schema.slice(-6);
    const a = start(`proc-a-${suffix}`);
    const first = await until('a leader', lease, 90_000);
    const b = start(`proc-b-${suffix}`);
    await until('the standby to be up', async () => b.out().includes('edgekd cloud is up'), 90_000);
    const leader = first.holder.startsWith('proc-a') ? a : b;
    const standbyId = first.holder.startsWith('proc-a') ? `proc-b-${suffix}` : `proc-a-${suffix}`;

    const pausedAt = Date.now();
    leader.child.kill('SIGSTOP');
    const next = await until('the standby to take the lease', async () => {
      const l = await lease();
      return l && l.holder === standbyId ? l : null;
    }, 60_000);
    const takeoverMs = Date.now() - pausedAt;
    expect(next.token).toBe(first.token + 1);
    // Default ttl 6 s from the last renewal (every 2 s), standby rounds every 2 s: the lease
    // cannot lapse sooner than ttl − one renewal interval after the pause.
    expect(takeoverMs).toBeGreaterThanOrEqual(3_900);
    console.log(`takeover after SIGSTOP of the leader: ${(takeoverMs / 1000).toFixed(1)} s (ttl 6 s)`);

    leader.child.kill('SIGCONT');
    await until('the old leader to step down', async () => leader.out().includes('stopped leading'), 60_000);
    // The lease stays with the new leader: the resumed process did not take it back.
    expect(await lease()).toEqual({ holder: standbyId, token: next.token });
  });
});
