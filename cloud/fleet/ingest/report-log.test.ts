import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusReport } from '../../../shared/protocol/messages/status';
import type { DriftReportEnvelope } from '../../../shared/protocol/messages/drift';
import { openSqlite } from '../../store/sqlite-db';
import { SerialQueue } from '../../store/serial-queue';
import { FleetStore } from '../store/fleet-store';
import { createReportLog, type ReportLogDeps } from './report-log';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

// The log stores the body as it came; these tests need only the fields the log reads.
const status = (key: string, seq: number, rolloutId = 'r1'): StatusReport => ({ idempotencyKey: key, seq, deploymentId: `${rolloutId}:dev-1`, rolloutId, state: 'downloading' }) as unknown as StatusReport;
const drift = (key: string): DriftReportEnvelope => ({ idempotencyKey: key }) as unknown as DriftReportEnvelope;

async function log(over: Partial<ReportLogDeps> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-report-log-'));
  const db = openSqlite(join(dir, 'fleet.db'));
  cleanups.push(() => {
    void db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const store = await FleetStore.open(db);
  const queue = new SerialQueue();
  const acked: string[] = [];
  const applied: Array<{ key: string; seq: number; rolloutId: string | null }> = [];
  const drifts: string[] = [];
  const rejected: string[] = [];
  const reports = createReportLog({
    store, queue, now: () => 1_000,
    ack: (_d, k) => acked.push(k),
    applyStatus: (_d, r, seq, rolloutId) => applied.push({ key: r.idempotencyKey, seq, rolloutId }),
    onDrift: (_d, r) => drifts.push(r.idempotencyKey),
    reject: (topic) => rejected.push(topic),
    ...over,
  });
  const drained = () => queue.run(async () => undefined);
  return { store, reports, acked, applied, drifts, rejected, drained };
}

describe('report log', () => {
  it('logs status reports before applying them, in order, and acks each one', async () => {
    const l = await log();
    l.reports.status('t', 'dev-1', status('k1', 1));
    l.reports.status('t', 'dev-1', status('k2', 2));
    await l.drained();
    expect(l.applied.map((a) => a.key)).toEqual(['k1', 'k2']);
    expect(l.applied[0]!.rolloutId).toBe('r1');
    expect(l.applied[1]!.seq).toBeGreaterThan(l.applied[0]!.seq);
    expect(l.acked).toEqual(['k1', 'k2']);
    expect((await l.store.reportsAfter('r1', 0)).map((r) => r.idempotencyKey)).toEqual(['k1', 'k2']);
  });

  it('acks a redelivered report again but applies it once', async () => {
    const l = await log();
    l.reports.status('t', 'dev-1', status('k1', 1));
    await l.drained();
    l.reports.status('t', 'dev-1', status('k1', 1));
    l.reports.drift('t', 'dev-1', drift('d1'));
    l.reports.drift('t', 'dev-1', drift('d1'));
    await l.drained();
    expect(l.applied.map((a) => a.key)).toEqual(['k1']);
    expect(l.drifts).toEqual(['d1']);
    expect(l.acked).toEqual(['k1', 'k1', 'd1', 'd1']);
    expect(l.reports.counters()).toEqual({ reportsApplied: 1, reportsDuplicate: 2 });
  });

  it('replays the status reports logged after a snapshot, and only those', async () => {
    const l = await log();
    for (const [i, k] of ['a', 'b', 'c'].entries()) l.reports.status('t', 'dev-1', status(k, i));
    await l.drained();
    const firstSeq = l.applied[0]!.seq;
    const replayed: string[] = [];
    await l.reports.replay('r1', firstSeq, (_d, r) => replayed.push(r.idempotencyKey));
    expect(replayed).toEqual(['b', 'c']);
  });

  it('neither acks nor applies a report it could not log, and says so per report', async () => {
    const l = await log();
    const failing = await log({
      store: { logReports: () => Promise.reject(new Error('disk gone')), logReport: () => Promise.reject(new Error('disk gone')), reportsAfter: () => Promise.resolve([]) },
    });
    failing.reports.status('status-topic', 'dev-1', status('k1', 1));
    failing.reports.drift('drift-topic', 'dev-1', drift('d1'));
    await failing.drained();
    expect(failing.acked).toEqual([]);
    expect(failing.applied).toEqual([]);
    expect(failing.rejected).toEqual(['status-topic', 'drift-topic']);
    expect(l.rejected).toEqual([]);
  });
});
