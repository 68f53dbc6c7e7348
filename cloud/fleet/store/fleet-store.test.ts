import { afterAll, beforeAll, describe as plainDescribe, expect, it } from 'vitest';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFsArtifactStore } from '../../scale/fs-artifact-store';
import { describeWithPostgres, POSTGRES_URL } from '../../../test/helpers/services';
import { openSqlite } from '../../store/sqlite-db';
import { openPostgres } from '../../store/postgres-db';
import type { SqlDb } from '../../store/sql-db';
import { FleetStore } from './fleet-store';
import { applyEvent, createRolloutState } from '../rollout/rollout-engine';
import { withDefaults } from '../rollout/rollout-spec';

function suite(name: string, open: () => Promise<SqlDb>, d: typeof plainDescribe | typeof plainDescribe.skip): void {
  d(`FleetStore on ${name}`, () => {
    let db: SqlDb;
    let store: FleetStore;
    beforeAll(async () => {
      db = await open();
      store = await FleetStore.open(db);
    });
    afterAll(async () => db?.close());

    it('stores a provisioned device once and lists it with its labels', async () => {
      expect(await store.insertDevice({ deviceId: 'cam-1', passwordHash: 'h', tags: ['prod'], groups: ['eu'], createdAt: 1 })).toBe(true);
      expect(await store.insertDevice({ deviceId: 'cam-1', passwordHash: 'x', tags: [], groups: [], createdAt: 2 })).toBe(false);
      const d = await store.getDevice('cam-1');
      expect(d).toMatchObject({ deviceId: 'cam-1', tags: ['prod'], groups: ['eu'], presence: 'unknown' });
    });

    it('ignores a presence document older than the current session (late last will)', async () => {
      expect(await store.applyPresence({ deviceId: 'cam-1', presence: 'online', bootSeq: 2, sessionSeq: 3, at: 10 })).toBe(true);
      expect(await store.applyPresence({ deviceId: 'cam-1', presence: 'offline', bootSeq: 2, sessionSeq: 2, at: 11 })).toBe(false);
      expect((await store.getDevice('cam-1'))?.presence).toBe('online');
      expect(await store.applyPresence({ deviceId: 'cam-1', presence: 'offline', bootSeq: 2, sessionSeq: 3, at: 12 })).toBe(true);
      expect((await store.getDevice('cam-1'))?.presence).toBe('offline');
    });

    it('keeps idempotency keys per device: another device reusing a key is not a duplicate', async () => {
      const mine = await store.logReport({ idempotencyKey: 'shared-key', deviceId: 'cam-7', rolloutId: null, kind: 'drift', body: {}, receivedAt: 1 });
      const theirs = await store.logReports([{ idempotencyKey: 'shared-key', deviceId: 'cam-8', rolloutId: null, kind: 'drift', body: {}, receivedAt: 2 }]);
      const again = await store.logReport({ idempotencyKey: 'shared-key', deviceId: 'cam-7', rolloutId: null, kind: 'drift', body: {}, receivedAt: 3 });
      expect(mine).not.toBeNull();
      expect(theirs[0]).not.toBeNull();
      expect(again).toBeNull();
      expect(await store.countReports('cam-8')).toBe(1);
    });

    it('logs a batch in input order: seqs grow along it, a key already stored or repeated in the batch is a duplicate, over several slices', async () => {
      const stored = await store.logReport({ idempotencyKey: 'b-0', deviceId: 'cam-b', rolloutId: 'rb', kind: 'status', body: { n: 0 }, receivedAt: 1 });
      const batch = Array.from({ length: 1203 }, (_, i) => ({ idempotencyKey: `b-${i}`, deviceId: 'cam-b', rolloutId: 'rb', kind: 'status', body: { n: i }, receivedAt: 2 + i }));
      batch.splice(700, 0, { ...batch[650]! }); // a repeat in a later position, same slice
      batch.push({ ...batch[3]! }); // a repeat in a later slice
      const seqs = await store.logReports(batch);
      expect(seqs[0]).toBeNull(); // b-0 was logged before the batch
      expect(seqs[700]).toBeNull();
      expect(seqs[seqs.length - 1]).toBeNull();
      const fresh = seqs.filter((x): x is number => x !== null);
      expect(fresh).toHaveLength(1202);
      expect(fresh.every((x, i) => i === 0 || x > fresh[i - 1]!)).toBe(true);
      expect(fresh[0]).toBeGreaterThan(stored!);
      const after = await store.reportsAfter('rb', stored!);
      expect(after.map((r) => (r.body as { n: number }).n)).toEqual(Array.from({ length: 1202 }, (_, i) => i + 1));
    });

    it('logs a report once per idempotency key and replays reports after a sequence number', async () => {
      const a = await store.logReport({ idempotencyKey: 'k1', deviceId: 'cam-1', rolloutId: 'r1', kind: 'status', body: { state: 'downloading' }, receivedAt: 1 });
      const dup = await store.logReport({ idempotencyKey: 'k1', deviceId: 'cam-1', rolloutId: 'r1', kind: 'status', body: { state: 'downloading' }, receivedAt: 2 });
      const b = await store.logReport({ idempotencyKey: 'k2', deviceId: 'cam-1', rolloutId: 'r1', kind: 'status', body: { state: 'committed' }, receivedAt: 3 });
      expect(a).not.toBeNull();
      expect(dup).toBeNull();
      expect(b!).toBeGreaterThan(a!);
      const after = await store.reportsAfter('r1', a!);
      expect(after.map((r) => r.idempotencyKey)).toEqual(['k2']);
      expect(after[0]!.body).toEqual({ state: 'committed' });
    });

    it('keeps package bytes intact', async () => {
      const model = new Uint8Array(70_000).map((_, i) => (i * 7) & 0xff);
      await store.insertPackage({ packageId: 'm@1', name: 'm', version: 1, sha256: 'a'.repeat(64), sizeBytes: model.length, manifest: { a: 1 }, signature: { s: 1 }, createdAt: 5, model });
      expect(Buffer.from((await store.getPackageBytes('m@1'))!).equals(Buffer.from(model))).toBe(true);
      expect((await store.getPackage('m@1'))?.manifest).toEqual({ a: 1 });
    });

    it('moves package blobs written before the artifact store into it, losing nothing', async () => {
      const model = new Uint8Array(30_000).map((_, i) => (i * 11) & 0xff);
      await store.insertPackage({ packageId: 'old@1', name: 'old', version: 1, sha256: 'b'.repeat(64), sizeBytes: model.length, manifest: {}, signature: {}, createdAt: 6, model });
      expect(await store.packageArtifact('old@1')).toBeNull();
      const root = mkdtempSync(join(tmpdir(), 'edgekd-fleet-artifacts-'));
      try {
        const artifacts = createFsArtifactStore(root);
        const moving = await FleetStore.open(db, { artifacts });
        expect(await moving.moveBlobsToArtifacts()).toBeGreaterThanOrEqual(1);
        expect(await moving.moveBlobsToArtifacts()).toBe(0);
        const address = await moving.packageArtifact('old@1');
        expect(address).toBe(createHash('sha256').update(model).digest('hex'));
        expect(Buffer.from((await moving.getPackageBytes('old@1'))!).equals(Buffer.from(model))).toBe(true);
        // The row keeps no blob any more; a process without the artifact store says why it cannot read it.
        const [row] = await db.query<{ model: Uint8Array }>('SELECT model FROM fleet_packages WHERE package_id = ?', ['old@1']);
        expect(row!.model.byteLength).toBe(0);
        await expect(store.getPackageBytes('old@1')).rejects.toMatchObject({ code: 'EDGEKD_CONFIG_INVALID' });
        // New packages go straight to the artifact store.
        const next = model.map((b) => b ^ 0xff);
        await moving.insertPackage({ packageId: 'old@2', name: 'old', version: 2, sha256: 'c'.repeat(64), sizeBytes: next.length, manifest: {}, signature: {}, createdAt: 7, model: next });
        expect(await artifacts.stat((await moving.packageArtifact('old@2'))!)).toEqual({ sha256: createHash('sha256').update(next).digest('hex'), sizeBytes: next.length });
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });

    it('keeps one download secret per store, the same for every process', async () => {
      const other = await FleetStore.open(db);
      const a = await store.downloadSecret(1);
      expect(a.length).toBe(32);
      expect((await other.downloadSecret(2)).equals(a)).toBe(true);
    });

    it('saves and reloads a rollout state with its applied report sequence', async () => {
      const s = createRolloutState('r1', withDefaults({ packageId: 'm@1', target: { devices: ['a', 'b'] } }), ['a', 'b'], 100);
      applyEvent(s, { type: 'start' }, 100);
      await store.saveRollout(s, 7);
      applyEvent(s, { type: 'pause' }, 200);
      await store.saveRollout(s, 9);
      const [loaded] = await store.loadRollouts({ activeOnly: true });
      expect(loaded?.appliedReportSeq).toBe(9);
      expect(loaded?.state.status).toBe('paused');
      expect(loaded?.state.devices.a?.state).toBe('offered');
    });
  });
}

suite('SQLite', async () => openSqlite(':memory:'), plainDescribe);
const pg = await describeWithPostgres();
suite('PostgreSQL', async () => openPostgres(POSTGRES_URL, { schema: `fleet_${randomUUID().slice(0, 8)}` }), pg);

pg('FleetStore report log with two writers on PostgreSQL', () => {
  it('commits report batches in seq order: a writer waits while another holds the log, so a reader past seq N has seen every row below it', async () => {
    const schema = `fleet_${randomUUID().slice(0, 8)}`;
    const a = await openPostgres(POSTGRES_URL, { schema });
    const b = await openPostgres(POSTGRES_URL, { schema });
    try {
      await FleetStore.open(a);
      const sb = await FleetStore.open(b);
      const row = (key: string) => ({ idempotencyKey: key, deviceId: 'cam-1', rolloutId: 'r1', kind: 'status', body: {}, receivedAt: 1 });
      let aCommittedAt = Infinity;
      // Writer A logs its batch, then takes 400 ms to commit (a slow process, a long batch).
      const slow = a
        .transaction(async (tx) => {
          const [seq] = await (await FleetStore.open(tx)).logReports([row('a1')]);
          await new Promise((r) => setTimeout(r, 400));
          return seq!;
        })
        .then((seq) => {
          aCommittedAt = performance.now();
          return seq;
        });
      await new Promise((r) => setTimeout(r, 100));
      // Writer B starts while A is open. Without the lock it would commit first, and a reader that
      // saw B's seq would move past A's row before A committed it.
      const [seqB] = await sb.logReports([row('b1')]);
      const bCommittedAt = performance.now();
      const seqA = await slow;
      expect(seqB).toBeGreaterThan(seqA);
      expect(bCommittedAt).toBeGreaterThanOrEqual(aCommittedAt);
      expect((await sb.reportsSince(0, 10)).map((r) => r.idempotencyKey)).toEqual(['a1', 'b1']);
      expect(await sb.lastReportSeq()).toBe(seqB);
    } finally {
      await a.exec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await a.close();
      await b.close();
    }
  });
});
