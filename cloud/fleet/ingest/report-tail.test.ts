import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../shared/log/logger';
import { openSqlite } from '../../store/sqlite-db';
import { SerialQueue } from '../../store/serial-queue';
import { FleetStore, type StoredReport } from '../store/fleet-store';
import { createReportTail } from './report-tail';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

async function world() {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-report-tail-'));
  const db = openSqlite(join(dir, 'fleet.db'));
  const store = await FleetStore.open(db);
  const seen: StoredReport[] = [];
  const queue = new SerialQueue();
  const tail = createReportTail({ store, queue, log: createLogger('tail-test', 'silent'), pollMs: 60_000, batch: 3, deliver: (r) => seen.push(r) });
  cleanups.push(() => {
    tail.close();
    void db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let n = 0;
  const logSome = (count: number, kind = 'status') =>
    store.logReports(Array.from({ length: count }, () => ({ idempotencyKey: `k${++n}`, deviceId: `d${n % 2}`, rolloutId: 'r1', kind, body: { n }, receivedAt: 1 })));
  const drained = () => queue.run(async () => undefined).then(() => queue.run(async () => undefined));
  return { store, tail, seen, logSome, drained };
}

describe('report tail', () => {
  it('hands on every report after its start point once, in log order, across batches and pokes', async () => {
    const w = await world();
    await w.logSome(2); // before the start point: the caller's (snapshot + replay)
    w.tail.start(await w.store.lastReportSeq());
    await w.logSome(7);
    w.tail.poke();
    w.tail.poke(); // coalesced with the read already queued
    await w.drained();
    await w.logSome(2, 'drift');
    w.tail.poke();
    await w.drained();
    w.tail.poke(); // nothing new: nothing handed on again
    await w.drained();
    expect(w.seen.map((r) => (r.body as { n: number }).n)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(w.seen.map((r) => r.seq)).toEqual([...w.seen.map((r) => r.seq)].sort((a, b) => a - b));
    expect(w.seen.slice(-2).map((r) => r.kind)).toEqual(['drift', 'drift']);
    expect(w.tail.delivered()).toBe(9);
  });

  it('reads nothing before it is started and nothing after it is closed', async () => {
    const w = await world();
    await w.logSome(3);
    w.tail.poke();
    await w.drained();
    expect(w.seen).toEqual([]);
    w.tail.start(0);
    await w.drained();
    expect(w.seen).toHaveLength(3);
    w.tail.close();
    await w.logSome(2);
    w.tail.poke();
    await w.drained();
    expect(w.seen).toHaveLength(3);
  });
});
