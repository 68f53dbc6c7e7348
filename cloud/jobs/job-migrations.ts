import type { Migration } from '../store/sql-db';

/** Job queue tables. Portable SQL (see cloud/store/sql-db.ts): TEXT ids and JSON, BIGINT times. */
export const jobMigrations: readonly Migration[] = [
  {
    id: 'jobs-001',
    async up(db) {
      await db.exec(`CREATE TABLE edgekd_jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        params TEXT NOT NULL,
        result TEXT,
        error TEXT,
        progress TEXT,
        attempt BIGINT NOT NULL DEFAULT 0,
        resume BIGINT NOT NULL DEFAULT 0,
        cancel_requested BIGINT NOT NULL DEFAULT 0,
        owner TEXT,
        lease_until BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        started_at BIGINT,
        finished_at BIGINT
      )`);
      await db.exec('CREATE INDEX edgekd_jobs_state_created ON edgekd_jobs (state, created_at)');
      await db.exec(`CREATE TABLE edgekd_job_events (
        job_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        at BIGINT NOT NULL,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
      )`);
    },
  },
];
