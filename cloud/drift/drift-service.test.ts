import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/logger';
import { openSqlite } from '../store/sqlite-db';
import { createDriftService } from './drift-service';
import { fakeDriftEnvelope } from './testing-reports';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function service(o: { staleAfterMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-drift-service-'));
  const db = openSqlite(join(dir, 'cloud.db'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => db.close());
  let now = 1_000_000;
  const drift = createDriftService({
    db,
    clock: () => now,
    logger: createLogger('drift-test', 'silent'),
    // Two cohorts: devices a-* on line A, b-* on line B.
    cohortOf: (id) => (id.startsWith('a-') ? 'group:line-a' : 'group:line-b'),
    ...(o.staleAfterMs !== undefined ? { staleAfterMs: o.staleAfterMs } : {}),
  });
  await drift.migrate();
  return { drift, advance: (ms: number) => (now += ms), now: () => now };
}

describe('drift service', () => {
  it('stores a report once per device and idempotency key, and keeps each device latest state', async () => {
    const s = await service();
    const first = await s.drift.ingest(fakeDriftEnvelope({ deviceId: 'a-1', key: 'k1', p: 0.5, alarm: false, at: s.now() }));
    const again = await s.drift.ingest(fakeDriftEnvelope({ deviceId: 'a-1', key: 'k1', p: 0.5, alarm: false, at: s.now() }));
    expect(first.status).toBe('accepted');
    expect(again).toEqual({ status: 'duplicate', reportId: first.reportId });
    s.advance(1000);
    await s.drift.ingest(fakeDriftEnvelope({ deviceId: 'a-1', key: 'k2', p: 1e-6, alarm: true, at: s.now() }));
    const [dev] = await s.drift.devices();
    expect(dev).toMatchObject({ deviceId: 'a-1', cohort: 'group:line-a', alarmActive: true });
    expect((await s.drift.reports({ deviceId: 'a-1' })).length).toBe(2);
  });

  it('refuses a report whose statistics do not match the drift schema, storing nothing', async () => {
    const s = await service();
    const bad = fakeDriftEnvelope({ deviceId: 'a-1', key: 'k1', p: 0.5, alarm: false, at: s.now() });
    (bad.stats as Record<string, unknown>).detectors = 'not a list';
    await expect(s.drift.ingest(bad)).rejects.toMatchObject({ code: expect.stringMatching(/^EDGEKD_/) });
    expect(await s.drift.reports()).toEqual([]);
  });

  it('opens an alarm only for the cohort whose devices drift, with the alarming reports as evidence, and closes it when they recover', async () => {
    const s = await service();
    for (const id of ['a-1', 'a-2', 'a-3']) await s.drift.ingest(fakeDriftEnvelope({ deviceId: id, key: `${id}-1`, p: 1e-8, alarm: true, at: s.now() }));
    for (const id of ['b-1', 'b-2']) await s.drift.ingest(fakeDriftEnvelope({ deviceId: id, key: `${id}-1`, p: 0.6, alarm: false, at: s.now() }));
    const verdicts = await s.drift.evaluate();
    expect(verdicts.find((v) => v.cohort === 'group:line-a')).toMatchObject({ alarm: true, devices: 3, devicesInAlarm: 3 });
    expect(verdicts.find((v) => v.cohort === 'group:line-b')).toMatchObject({ alarm: false, devices: 2 });
    const open = await s.drift.cohortAlarms({ openOnly: true });
    expect(open.map((a) => a.cohort)).toEqual(['group:line-a']);
    expect(open[0]!.evidence).toHaveLength(3);

    s.advance(60_000);
    for (const id of ['a-1', 'a-2', 'a-3']) await s.drift.ingest(fakeDriftEnvelope({ deviceId: id, key: `${id}-2`, p: 0.7, alarm: false, at: s.now() }));
    await s.drift.evaluate();
    expect(await s.drift.cohortAlarms({ openOnly: true })).toEqual([]);
    const closed = await s.drift.cohortAlarms();
    expect(closed[0]!.closedAt).toBe(s.now());
    // Opening and closing are both in the action log.
    expect((await s.drift.actions()).length).toBeGreaterThanOrEqual(2);
  });

  it('does not let a device whose last report is stale vote', async () => {
    const s = await service({ staleAfterMs: 10_000 });
    await s.drift.ingest(fakeDriftEnvelope({ deviceId: 'a-1', key: 'k1', p: 1e-8, alarm: true, at: s.now() }));
    s.advance(60_000);
    const verdicts = await s.drift.evaluate();
    expect(verdicts.find((v) => v.cohort === 'group:line-a')?.alarm ?? false).toBe(false);
    expect(await s.drift.cohortAlarms({ openOnly: true })).toEqual([]);
  });

  it('pools the input statistics of the drifted reports against the same line’s earlier clean reports, and none without a baseline', async () => {
    const s = await service();
    const clean = { mean: -0.3, std: 0.6, gradient: 0.15, saturation: 0.4 };
    // Clean reports of the line, one of another model version and one of another cohort (both ignored).
    for (const id of ['a-1', 'a-2']) await s.drift.ingest(fakeDriftEnvelope({ deviceId: id, key: `${id}-0`, p: 0.5, alarm: false, at: s.now(), inputMeans: clean }));
    await s.drift.ingest(fakeDriftEnvelope({ deviceId: 'a-3', key: 'a-3-0', p: 0.5, alarm: false, at: s.now(), inputMeans: { ...clean, std: 9 }, modelVersion: 2 }));
    await s.drift.ingest(fakeDriftEnvelope({ deviceId: 'b-1', key: 'b-1-0', p: 0.5, alarm: false, at: s.now(), inputMeans: { ...clean, gradient: 9 } }));
    s.advance(60_000);
    const ids: string[] = [];
    for (const [id, std] of [['a-1', 0.25], ['a-2', 0.35]] as const) ids.push((await s.drift.ingest(fakeDriftEnvelope({ deviceId: id, key: `${id}-1`, p: 1e-8, alarm: true, at: s.now(), inputMeans: { ...clean, std, gradient: 0.07 } }))).reportId);
    // A clean report received after the drifted ones is not baseline.
    s.advance(60_000);
    await s.drift.ingest(fakeDriftEnvelope({ deviceId: 'a-4', key: 'a-4-0', p: 0.5, alarm: false, at: s.now(), inputMeans: { ...clean, mean: 5 } }));
    const shift = await s.drift.fieldInputShift(ids);
    expect(shift!.field).toMatchObject({ std: 0.3, gradient: 0.07, sampleCount: 2000 });
    expect(shift!.baseline).toMatchObject({ ...clean, sampleCount: 2000 });
    // Reports without input statistics, or no clean report before them: nothing to fit.
    const bare = (await s.drift.ingest(fakeDriftEnvelope({ deviceId: 'b-2', key: 'b-2-1', p: 1e-8, alarm: true, at: s.now() }))).reportId;
    expect(await s.drift.fieldInputShift([bare])).toBeNull();
    const first = (await s.drift.ingest(fakeDriftEnvelope({ deviceId: 'a-5', key: 'a-5-1', p: 1e-8, alarm: true, at: s.now(), inputMeans: clean, modelVersion: 7 }))).reportId;
    expect(await s.drift.fieldInputShift([first])).toBeNull();
  });
});
