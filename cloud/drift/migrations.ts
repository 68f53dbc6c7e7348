import type { Migration } from '../store/sql-db';

/**
 * Drift tables (the retrain tables are cloud/retrain/migrations.ts). Portable SQL (see cloud/store/sql-db.ts): TEXT ids and JSON, BIGINT
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
];
