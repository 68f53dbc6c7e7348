import { EdgekdError } from '../../shared/errors';
import { migrate, type SqlDb } from '../store/sql-db';
import { leaseMigrations } from './lease-migrations';

export interface LeaseRow {
  readonly role: string;
  readonly holder: string;
  readonly token: number;
  readonly expiresAt: number;
}

/** What a leader stamps on its writes: the role and the token it was elected with. */
export interface Fence {
  readonly role: string;
  readonly token: number;
}

export interface LeaderLeaseOptions {
  readonly db: SqlDb;
  readonly role: string;
  /** This process's id. */
  readonly holder: string;
  readonly ttlMs: number;
  readonly now?: () => number;
}

/**
 * A leader lease in the shared store. Every statement is a single conditional write, so two
 * processes racing for the lease on PostgreSQL (row locks) or SQLite (file lock) get one winner:
 * - acquire: insert the row (token 1) or take it over once it has expired, or from this same
 *   holder's previous life (token + 1) — process ids must therefore be unique per process;
 * - renew: extend it only while this holder still has it with the same token and it has not expired;
 * - release: expire it now so a standby takes over without waiting out the ttl.
 * Clocks: expiry is compared with the caller's clock, so the processes' clocks must agree to well
 * under the ttl (NTP); the fencing token, not the clock, is what keeps a stale leader's writes out.
 */
export class LeaderLease {
  private readonly now: () => number;
  private constructor(private readonly opts: LeaderLeaseOptions) {
    this.now = opts.now ?? Date.now;
  }

  static async open(opts: LeaderLeaseOptions): Promise<LeaderLease> {
    await migrate(opts.db, leaseMigrations);
    return new LeaderLease(opts);
  }

  get role(): string {
    return this.opts.role;
  }

  async current(): Promise<LeaseRow | null> {
    const rows = await this.opts.db.query<{ holder: string; token: number; expires_at: number }>('SELECT holder, token, expires_at FROM edgekd_leases WHERE role = ?', [this.opts.role]);
    const r = rows[0];
    return r ? { role: this.opts.role, holder: r.holder, token: Number(r.token), expiresAt: Number(r.expires_at) } : null;
  }

  /** Becomes the leader with a new token, or returns null while another holder's lease is live. */
  async tryAcquire(): Promise<Fence | null> {
    const { db, role, holder, ttlMs } = this.opts;
    const now = this.now();
    const inserted = await db.query<{ token: number }>(
      'INSERT INTO edgekd_leases (role, holder, token, expires_at, acquired_at) VALUES (?, ?, 1, ?, ?) ON CONFLICT (role) DO NOTHING RETURNING token',
      [role, holder, now + ttlMs, now],
    );
    if (inserted[0]) return { role, token: Number(inserted[0].token) };
    const taken = await db.query<{ token: number }>(
      // Also when this holder's earlier life (same process id, restarted) left the lease behind.
      'UPDATE edgekd_leases SET holder = ?, token = token + 1, expires_at = ?, acquired_at = ? WHERE role = ? AND (expires_at <= ? OR holder = ?) RETURNING token',
      [holder, now + ttlMs, now, role, now, holder],
    );
    return taken[0] ? { role, token: Number(taken[0].token) } : null;
  }

  /** Extends the lease; false when it lapsed or another holder took it (this process must stop leading). */
  async renew(fence: Fence): Promise<boolean> {
    const now = this.now();
    const n = await this.opts.db.exec(
      'UPDATE edgekd_leases SET expires_at = ? WHERE role = ? AND holder = ? AND token = ? AND expires_at > ?',
      [now + this.opts.ttlMs, this.opts.role, this.opts.holder, fence.token, now],
    );
    return n === 1;
  }

  async release(fence: Fence): Promise<void> {
    await this.opts.db.exec('UPDATE edgekd_leases SET expires_at = ? WHERE role = ? AND holder = ? AND token = ?', [this.now(), this.opts.role, this.opts.holder, fence.token]);
  }

  /**
   * For a store only one process may use (SQLite): acquire or refuse with a clear error naming
   * the process that holds the role, instead of standing by.
   */
  async acquireOrRefuse(): Promise<Fence> {
    const fence = await this.tryAcquire();
    if (fence) return fence;
    const cur = await this.current();
    throw new EdgekdError(
      'EDGEKD_LEADER_HELD',
      `cloud process '${cur?.holder ?? '?'}' already runs the ${this.opts.role} role on this SQLite file (lease until ${cur ? new Date(cur.expiresAt).toISOString() : '?'}); ` +
        'SQLite serves one cloud process: stop the other one, or use PostgreSQL (--db postgres://…) to run several',
    );
  }
}
