import type { Migration } from '../store/sql-db';

/**
 * One row per role that needs a single leader (`fleet`). `token` is the fencing token: it grows
 * by one on every acquisition and never goes back, so a write stamped with an older token can be
 * recognised and refused. Times are BIGINT milliseconds from the leaders' clocks.
 */
export const leaseMigrations: readonly Migration[] = [
  {
    id: 'lease-001',
    async up(db) {
      await db.exec(`CREATE TABLE edgekd_leases (
        role TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        token BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        acquired_at BIGINT NOT NULL
      )`);
    },
  },
];
