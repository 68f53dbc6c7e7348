import type { Migration, SqlDb } from '../../store/sql-db';

/**
 * Fleet tables. Portable SQL (see cloud/store/sql-db.ts): TEXT ids and JSON, BIGINT ms times.
 * Only the report log's auto-increment and the blob type differ between the dialects.
 */
const blob = (db: SqlDb): string => (db.dialect === 'postgres' ? 'BYTEA' : 'BLOB');
const serial = (db: SqlDb): string => (db.dialect === 'postgres' ? 'BIGSERIAL PRIMARY KEY' : 'INTEGER PRIMARY KEY AUTOINCREMENT');

export const fleetMigrations: Migration[] = [
  {
    id: 'fleet-001',
    async up(db) {
      await db.exec(`CREATE TABLE fleet_devices (
        device_id TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        tags TEXT NOT NULL,
        groups_json TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        presence TEXT NOT NULL,
        presence_boot_seq BIGINT NOT NULL,
        presence_session_seq BIGINT NOT NULL,
        last_seen BIGINT,
        active_model TEXT,
        agent_version TEXT,
        heartbeat TEXT
      )`);
      await db.exec(`CREATE TABLE fleet_trusted_keys (
        key_id TEXT PRIMARY KEY,
        entry TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`);
      await db.exec(`CREATE TABLE fleet_packages (
        package_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        version BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        size_bytes BIGINT NOT NULL,
        manifest TEXT NOT NULL,
        signature TEXT NOT NULL,
        model ${blob(db)} NOT NULL,
        created_at BIGINT NOT NULL
      )`);
      await db.exec(`CREATE TABLE fleet_rollouts (
        rollout_id TEXT PRIMARY KEY,
        package_id TEXT NOT NULL,
        status TEXT NOT NULL,
        state TEXT NOT NULL,
        applied_report_seq BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      )`);
      await db.exec(`CREATE TABLE fleet_reports (
        seq ${serial(db)},
        idempotency_key TEXT NOT NULL UNIQUE,
        device_id TEXT NOT NULL,
        rollout_id TEXT,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        received_at BIGINT NOT NULL
      )`);
      await db.exec('CREATE INDEX fleet_reports_rollout ON fleet_reports (rollout_id, seq)');
    },
  },
  {
    // A revoked device keeps its row (history, reports, rollouts name it) but can no longer log in.
    id: 'fleet-002-device-revocation',
    async up(db) {
      await db.exec('ALTER TABLE fleet_devices ADD COLUMN revoked_at BIGINT');
    },
  },
  {
    // Idempotency keys are chosen by devices, so they are unique per device only: one device
    // reusing another's key must neither be taken for a duplicate (and lose its report) nor
    // shadow the other's. Existing rows were unique globally, hence unique per device too.
    id: 'fleet-003-report-key-per-device',
    async up(db) {
      if (db.dialect === 'postgres') {
        const rows = await db.query<{ name: string }>(
          `SELECT con.conname AS name FROM pg_constraint con JOIN pg_class rel ON rel.oid = con.conrelid
           WHERE rel.relname = 'fleet_reports' AND rel.relnamespace = current_schema()::regnamespace AND con.contype = 'u'`,
        );
        for (const r of rows) await db.exec(`ALTER TABLE fleet_reports DROP CONSTRAINT "${r.name.replace(/"/g, '""')}"`);
        await db.exec('ALTER TABLE fleet_reports ADD CONSTRAINT fleet_reports_device_key UNIQUE (device_id, idempotency_key)');
        return;
      }
      // SQLite cannot drop a column constraint: rebuild the table, keeping every seq.
      await db.exec(`CREATE TABLE fleet_reports_v2 (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        idempotency_key TEXT NOT NULL,
        device_id TEXT NOT NULL,
        rollout_id TEXT,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        received_at BIGINT NOT NULL,
        UNIQUE (device_id, idempotency_key)
      )`);
      await db.exec('INSERT INTO fleet_reports_v2 (seq, idempotency_key, device_id, rollout_id, kind, body, received_at) SELECT seq, idempotency_key, device_id, rollout_id, kind, body, received_at FROM fleet_reports');
      await db.exec('DROP TABLE fleet_reports');
      await db.exec('ALTER TABLE fleet_reports_v2 RENAME TO fleet_reports');
      await db.exec('CREATE INDEX fleet_reports_rollout ON fleet_reports (rollout_id, seq)');
    },
  },
  {
    // Package bytes move to the artifact store (cloud/scale/artifact-store.ts): the row keeps the
    // artifact's address, the blob column stays for rows written before (read as they are until
    // FleetStore.moveBlobsToArtifacts moves them; an empty blob once moved). The download secret
    // is shared by every process so any of them can check a device's download token.
    id: 'fleet-004-package-artifacts',
    async up(db) {
      await db.exec('ALTER TABLE fleet_packages ADD COLUMN artifact_sha256 TEXT');
      await db.exec(`CREATE TABLE fleet_secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`);
    },
  },
];
