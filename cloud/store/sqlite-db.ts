import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { EdgekdError } from '../../shared/errors';
import { SerialQueue } from './serial-queue';
import type { SqlDb, SqlRow, SqlValue } from './sql-db';

// node:sqlite binds no booleans; BLOBs go in as any Uint8Array and come back as Uint8Array.
function bind(params: readonly SqlValue[]): SQLInputValue[] {
  return params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
}

/**
 * SQLite through Node's built-in `node:sqlite` (no compiled module; docs/decisions.md has the
 * measurement against better-sqlite3, which it replaced). The driver is synchronous, so every
 * statement runs inside a serial queue: a transaction holds the queue, and statements from other
 * callers wait for it rather than joining it by accident. WAL mode keeps readers and the writer
 * apart on disk and makes a crash lose at most the transaction in flight.
 */
export function openSqlite(path: string): SqlDb {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (e) {
    throw new EdgekdError('EDGEKD_STORE_UNAVAILABLE', `cannot open SQLite database at ${path}: ${(e as Error).message}`, { cause: e });
  }
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  db.exec('PRAGMA foreign_keys = ON');
  // Integers come back as JS numbers (node:sqlite's default); one beyond 2^53 throws instead of
  // losing precision silently.
  const queue = new SerialQueue();
  let closed = false;
  // Callers pass the same few SQL texts over and over (a rollout logs thousands of reports with
  // one INSERT): compiling each statement once instead of on every call. Bounded, in case a caller
  // builds SQL dynamically.
  const statements = new Map<string, StatementSync>();
  const prepare = (sql: string): StatementSync => {
    let st = statements.get(sql);
    if (!st) {
      st = db.prepare(sql);
      if (statements.size >= 500) statements.clear();
      statements.set(sql, st);
    }
    return st;
  };

  const direct = (inTx: boolean): SqlDb => ({
    dialect: 'sqlite',
    async query<T extends SqlRow>(sql: string, params: readonly SqlValue[] = []) {
      const run = (): T[] => prepare(sql).all(...bind(params)) as unknown as T[];
      return inTx ? run() : queue.run(async () => run());
    },
    async exec(sql: string, params: readonly SqlValue[] = []) {
      const run = (): number => {
        if (params.length === 0 && !/\?/.test(sql) && sql.trim().split(';').filter((s) => s.trim()).length > 1) {
          db.exec(sql);
          return 0;
        }
        return Number(prepare(sql).run(...bind(params)).changes);
      };
      return inTx ? run() : queue.run(async () => run());
    },
    async transaction<T>(fn: (tx: SqlDb) => Promise<T>): Promise<T> {
      if (inTx) return fn(direct(true));
      return queue.run(async () => {
        db.exec('BEGIN IMMEDIATE');
        try {
          const out = await fn(direct(true));
          db.exec('COMMIT');
          return out;
        } catch (e) {
          db.exec('ROLLBACK');
          throw e;
        }
      });
    },
    async close() {
      // Idempotent, as callers (and better-sqlite3 before) assume; node:sqlite throws on a second close.
      await queue.run(async () => {
        if (closed) return;
        closed = true;
        db.close();
      });
    },
  });
  return direct(false);
}
