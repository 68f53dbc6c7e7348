import { afterAll, beforeAll, describe as plainDescribe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { describeWithPostgres, POSTGRES_URL } from '../../test/helpers/services';
import { migrate, type SqlDb } from './sql-db';
import { openSqlite } from './sqlite-db';
import { openPostgres, toPgPlaceholders } from './postgres-db';

function suite(name: string, open: () => Promise<SqlDb>, d: typeof plainDescribe | typeof plainDescribe.skip): void {
  d(`SqlDb on ${name}`, () => {
    let db: SqlDb;
    beforeAll(async () => {
      db = await open();
      await migrate(db, [
        { id: 't-001', up: async (tx) => void (await tx.exec('CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL, j TEXT)')) },
      ]);
    });
    afterAll(async () => db?.close());

    it('applies a migration once', async () => {
      const again = await migrate(db, [{ id: 't-001', up: async () => { throw new Error('ran twice'); } }]);
      expect(again).toEqual([]);
    });
    it('round-trips BIGINT as a JS number and upserts', async () => {
      await db.exec('INSERT INTO kv (k, v, j) VALUES (?, ?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v', ['a', 1_700_000_000_000, '{"x":1}']);
      await db.exec('INSERT INTO kv (k, v, j) VALUES (?, ?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v', ['a', 1_700_000_000_001, null]);
      const rows = await db.query<{ v: number }>('SELECT v FROM kv WHERE k = ?', ['a']);
      expect(rows).toEqual([{ v: 1_700_000_000_001 }]);
    });
    it('rolls a failed transaction back', async () => {
      await expect(
        db.transaction(async (tx) => {
          await tx.exec('INSERT INTO kv (k, v) VALUES (?, ?)', ['b', 2]);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await db.query('SELECT k FROM kv WHERE k = ?', ['b'])).toEqual([]);
    });
  });
}

suite('SQLite (in memory)', async () => openSqlite(':memory:'), plainDescribe);
const pgDescribe = await describeWithPostgres();
suite('PostgreSQL', async () => openPostgres(POSTGRES_URL, { schema: `t_${randomUUID().slice(0, 8)}` }), pgDescribe);

plainDescribe('SqlDb on SQLite: close', () => {
  it('closes once and treats a second close as done (callers close in finally blocks and on shutdown)', async () => {
    const db = openSqlite(':memory:');
    await db.close();
    await expect(db.close()).resolves.toBeUndefined();
  });
});

plainDescribe('toPgPlaceholders', () => {
  it('renumbers placeholders outside string literals', () => {
    expect(toPgPlaceholders("SELECT ? , '?' , ?")).toBe("SELECT $1 , '?' , $2");
  });
});
