import type { Migration } from '../store/sql-db';

/**
 * Drift and retrain tables. Portable SQL (see cloud/store/sql-db.ts): TEXT ids and JSON, BIGINT
 * ms timestamps and integers, DOUBLE PRECISION floats.
 */
export const driftMigrations: readonly Migration[] = [
  {
    id: 'drift-001',
    async up(db) {
      // One row per accepted report; the idempotency key makes redelivery a no-op.
      await db.exec(`CREATE TABLE drift_reports (
        id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        cohort TEXT NOT NULL,
        model_name TEXT NOT NULL,
        model_version TEXT NOT NULL,
        period_start BIGINT NOT NULL,
        period_end BIGINT NOT NULL,
        sample_count BIGINT NOT NULL,
        alarm_active BIGINT NOT NULL,
        p_value DOUBLE PRECISION NOT NULL,
        body TEXT NOT NULL,
        received_at BIGINT NOT NULL
      )`);
      await db.exec('CREATE INDEX drift_reports_device ON drift_reports (device_id, received_at)');
      await db.exec('CREATE INDEX drift_reports_cohort ON drift_reports (cohort, model_name, model_version, received_at)');
      await db.exec(`CREATE TABLE drift_device_state (
        device_id TEXT PRIMARY KEY,
        cohort TEXT NOT NULL,
        model_name TEXT NOT NULL,
        model_version TEXT NOT NULL,
        alarm_active BIGINT NOT NULL,
        alarm_since BIGINT,
        last_report_id TEXT NOT NULL,
        last_report_at BIGINT NOT NULL,
        p_value DOUBLE PRECISION NOT NULL
      )`);
      // Cohort alarms: opened when the fleet verdict holds, closed when it stops holding.
      await db.exec(`CREATE TABLE drift_cohort_alarms (
        id TEXT PRIMARY KEY,
        cohort TEXT NOT NULL,
        model_name TEXT NOT NULL,
        model_version TEXT NOT NULL,
        opened_at BIGINT NOT NULL,
        closed_at BIGINT,
        last_verdict TEXT NOT NULL,
        evidence TEXT NOT NULL
      )`);
      await db.exec('CREATE INDEX drift_cohort_alarms_open ON drift_cohort_alarms (cohort, model_name, closed_at)');
      // Every automatic (or human) action with its reason.
      await db.exec(`CREATE TABLE drift_actions (
        id TEXT PRIMARY KEY,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        details TEXT NOT NULL
      )`);
      await db.exec('CREATE INDEX drift_actions_at ON drift_actions (at)');
    },
  },
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
