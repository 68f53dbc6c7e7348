import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migratedOnFirstUse, type Migration } from './sql-db';
import { openSqlite } from './sqlite-db';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const open = () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-migrated-'));
  dirs.push(dir);
  return openSqlite(join(dir, 'x.db'));
};

describe('a feature that owns its tables', () => {
  it('creates them before its first statement, once, and a second handle applies nothing', async () => {
    const raw = open();
    let ups = 0;
    const m: Migration[] = [{ id: 'feature-001', up: async (db) => void (ups++, await db.exec('CREATE TABLE feature_rows (id TEXT PRIMARY KEY)')) }];
    const db = migratedOnFirstUse(raw, m);
    expect(ups).toBe(0);
    await db.exec('INSERT INTO feature_rows (id) VALUES (?)', ['a']);
    await db.transaction((tx) => tx.exec('INSERT INTO feature_rows (id) VALUES (?)', ['b']));
    expect((await db.query('SELECT id FROM feature_rows ORDER BY id')).map((r) => r.id)).toEqual(['a', 'b']);
    await migratedOnFirstUse(raw, m).query('SELECT 1');
    expect(ups).toBe(1);
    await raw.close();
  });

  it('fails every statement with the migration error when a migration fails', async () => {
    const raw = open();
    const db = migratedOnFirstUse(raw, [{ id: 'broken-001', up: async () => Promise.reject(new Error('bad DDL')) }]);
    await expect(db.query('SELECT 1')).rejects.toThrow('bad DDL');
    await expect(db.exec('SELECT 1')).rejects.toThrow('bad DDL');
    await raw.close();
  });
});
