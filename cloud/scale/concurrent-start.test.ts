import { afterAll, expect, it } from 'vitest';
import { describeWithPostgres } from '../../test/helpers/services';
import { jobMigrations } from '../jobs/job-migrations';
import { fleetMigrations } from '../fleet/store/migrations';
import { migrate, type SqlDb } from '../store/sql-db';
import { leaseMigrations } from './lease-migrations';
import { pgSchema } from './postgres-schema.test-helper';

const d = await describeWithPostgres();

d('cloud processes starting at once on one PostgreSQL database', () => {
  const pg = pgSchema();
  const dbs: SqlDb[] = [];
  afterAll(async () => {
    for (const db of dbs) await db.close();
  });

  it('apply each migration once, with no process failing on a table another is creating', async () => {
    for (let i = 0; i < 4; i++) dbs.push(await pg.open());
    const all = [...jobMigrations, ...fleetMigrations, ...leaseMigrations];
    const applied = await Promise.all(dbs.map((db) => migrate(db, all)));
    expect(applied.flat().sort()).toEqual(all.map((m) => m.id).sort());
    const rows = await dbs[0]!.query<{ id: string }>('SELECT id FROM edgekd_migrations ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual(all.map((m) => m.id).sort());
  });
});
