import type { SqlDb } from './sql-db';
import { openSqlite } from './sqlite-db';
import { openPostgres } from './postgres-db';

/** `sqlite:PATH`, a bare path, `:memory:`, or `postgres://…` (with an optional `schema`). */
export async function openDb(url: string, options: { schema?: string } = {}): Promise<SqlDb> {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return openPostgres(url, options);
  return openSqlite(url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url);
}
