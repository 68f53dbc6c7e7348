import { randomUUID } from 'node:crypto';
import { openPostgres } from '../store/postgres-db';
import type { SqlDb } from '../store/sql-db';
import { POSTGRES_URL } from '../../test/helpers/services';

/** A fresh schema per suite; several handles on it stand for several cloud processes. */
export function pgSchema(): { schema: string; open(): Promise<SqlDb> } {
  const schema = `scale_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  return { schema, open: () => openPostgres(POSTGRES_URL, { schema }) };
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
