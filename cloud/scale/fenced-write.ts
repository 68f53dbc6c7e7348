import { EdgekdError } from '../../shared/errors';
import type { SqlDb } from '../store/sql-db';
import type { Fence } from './leader-lease';

/**
 * Runs `write` in one transaction only if `fence.token` is still the newest token of its role.
 * On PostgreSQL the lease row is locked (`FOR UPDATE`) for the transaction, so a takeover (which
 * updates that row) waits until this write has committed and every later write of the old leader
 * sees the new token and is refused. On SQLite the transaction holds the file's write lock.
 * A stale leader (paused, partitioned, slow) therefore changes nothing once a successor exists.
 */
export async function fencedWrite<T>(db: SqlDb, fence: Fence, write: (tx: SqlDb) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    const lock = tx.dialect === 'postgres' ? ' FOR UPDATE' : '';
    const rows = await tx.query<{ token: number; holder: string }>(`SELECT token, holder FROM edgekd_leases WHERE role = ?${lock}`, [fence.role]);
    const current = rows[0] ? Number(rows[0].token) : null;
    if (current !== fence.token) {
      throw new EdgekdError(
        'EDGEKD_FENCED',
        `write refused: this process led the ${fence.role} role with token ${fence.token}, but the current token is ${current ?? 'none'}${rows[0] ? ` (held by '${rows[0].holder}')` : ''}`,
      );
    }
    return write(tx);
  });
}
