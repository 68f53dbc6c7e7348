import pg from 'pg';
import { EdgekdError } from '../../shared/errors';
import type { SqlDb, SqlRow, SqlValue } from './sql-db';

/** `?` → `$n`, skipping question marks inside single-quoted literals. */
export function toPgPlaceholders(sql: string): string {
  let n = 0;
  let inString = false;
  let out = '';
  for (const ch of sql) {
    if (ch === "'") inString = !inString;
    out += ch === '?' && !inString ? `$${++n}` : ch;
  }
  return out;
}

function bind(params: readonly SqlValue[]): unknown[] {
  return params.map((p) => (typeof p === 'bigint' ? p.toString() : p instanceof Uint8Array ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : p));
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * PostgreSQL through node-postgres, with a pool. BIGINT comes back as a JS number (timestamps and
 * counters in this project stay far below 2^53), the same as from SQLite.
 */
export async function openPostgres(connectionString: string, options: { schema?: string } = {}): Promise<SqlDb> {
  const types = {
    getTypeParser(oid: number, format?: string) {
      if (oid === INT8_OID || oid === NUMERIC_OID) return (v: string) => Number(v);
      return pg.types.getTypeParser(oid, format as 'text');
    },
  };
  const pool = new pg.Pool({ connectionString, types, max: 8 });
  pool.on('error', () => undefined); // an idle client's error must not crash the process; the next query reports it
  if (options.schema) {
    const schema = options.schema.replace(/[^a-z0-9_]/gi, '');
    pool.on('connect', (client) => {
      client.query(`SET search_path TO ${schema}`).catch(() => undefined);
    });
    const c = await pool.connect().catch((e: Error) => {
      throw new EdgekdError('EDGEKD_STORE_UNAVAILABLE', `cannot reach PostgreSQL: ${e.message}`, { cause: e });
    });
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await c.query(`SET search_path TO ${schema}`);
    c.release();
  }

  const over = (client: pg.Pool | pg.PoolClient, inTx: boolean): SqlDb => ({
    dialect: 'postgres',
    async query<T extends SqlRow>(sql: string, params: readonly SqlValue[] = []) {
      try {
        const r = await client.query(toPgPlaceholders(sql), bind(params));
        return r.rows as T[];
      } catch (e) {
        throw wrap(e);
      }
    },
    async exec(sql: string, params: readonly SqlValue[] = []) {
      try {
        const r = await client.query(toPgPlaceholders(sql), bind(params));
        return r.rowCount ?? 0;
      } catch (e) {
        throw wrap(e);
      }
    },
    async transaction<T>(fn: (tx: SqlDb) => Promise<T>): Promise<T> {
      if (inTx) return fn(over(client, true));
      const c = await pool.connect().catch((e: Error) => {
        throw new EdgekdError('EDGEKD_STORE_UNAVAILABLE', `cannot reach PostgreSQL: ${e.message}`, { cause: e });
      });
      try {
        await c.query('BEGIN');
        const out = await fn(over(c, true));
        await c.query('COMMIT');
        return out;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        c.release();
      }
    },
    async close() {
      if (!inTx) await pool.end();
    },
  });
  return over(pool, false);
}

function wrap(e: unknown): unknown {
  const code = (e as { code?: string }).code;
  if (code === 'ECONNREFUSED' || code === '57P01' || code === '08006') {
    return new EdgekdError('EDGEKD_STORE_UNAVAILABLE', `PostgreSQL unavailable: ${(e as Error).message}`, { cause: e });
  }
  return e;
}
