import type { Migration } from '../store/sql-db';

/**
 * The retrain controller's tables: runs, the pause switch, the policy set through the API. They
 * keep the ids they had when the drift service created them (`drift-002`, `drift-003`): migration
 * ids are global (`edgekd_migrations`), so a database that already has them applies nothing here.
 * Portable SQL (see cloud/store/sql-db.ts).
 */
export const retrainMigrations: readonly Migration[] = [
  {
    id: 'drift-002',
    async up(db) {
      await db.exec(`CREATE TABLE drift_retrain_runs (
        id TEXT PRIMARY KEY,
        cohort TEXT NOT NULL,
        model_name TEXT NOT NULL,
        model_version TEXT NOT NULL,
        cohort_alarm_id TEXT,
        state TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        finished_at BIGINT,
        compute_ms BIGINT NOT NULL,
        trigger_reports TEXT NOT NULL,
        steps TEXT NOT NULL,
        package_ref TEXT,
        outcome TEXT,
        error TEXT
      )`);
      await db.exec('CREATE INDEX drift_retrain_runs_cohort ON drift_retrain_runs (cohort, model_name, started_at)');
      // Single-row-per-scope switches: pause flags with who and why.
      await db.exec(`CREATE TABLE drift_controls (
        scope TEXT PRIMARY KEY,
        paused BIGINT NOT NULL,
        reason TEXT NOT NULL,
        actor TEXT NOT NULL,
        updated_at BIGINT NOT NULL
      )`);
    },
  },
  {
    id: 'drift-003',
    async up(db) {
      // The retrain policy as last set through the API (merged over the built-in defaults).
      await db.exec(`CREATE TABLE drift_retrain_policy (
        scope TEXT PRIMARY KEY,
        policy TEXT NOT NULL,
        actor TEXT NOT NULL,
        updated_at BIGINT NOT NULL
      )`);
    },
  },
];
