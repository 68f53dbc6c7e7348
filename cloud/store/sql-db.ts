/**
 * The one SQL seam for every cloud feature (fleet, runs, jobs, drift, lineage). SQLite
 * (Node's built-in node:sqlite) is the zero-setup default; PostgreSQL runs the same statements. Statements are
 * written once with `?` placeholders; the PostgreSQL adapter renumbers them to `$1…`.
 *
 * Portable SQL rules for callers: TEXT for ids and JSON, BIGINT for integers and millisecond
 * timestamps (both adapters return JS numbers), DOUBLE PRECISION for floats, `dialect` decides
 * the rest (BLOB vs BYTEA, upsert spelling is `ON CONFLICT … DO UPDATE` in both).
 */
export type SqlValue = string | number | bigint | boolean | null | Uint8Array;
export type SqlRow = Record<string, unknown>;

export interface SqlDb {
  readonly dialect: 'sqlite' | 'postgres';
  query<T extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** Returns the number of rows changed. */
  exec(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** Runs `fn` in one transaction; statements from other callers wait until it ends. */
  transaction<T>(fn: (tx: SqlDb) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** A migration is identified by a unique id (`fleet-001`), applied once, in the order given. */
export interface Migration {
  readonly id: string;
  up(db: SqlDb): Promise<void>;
}

/** Key of the PostgreSQL advisory lock that serialises migrations across cloud processes. */
const MIGRATION_LOCK = 0x65646b64; // 'edkd'

/**
 * Several cloud processes may start at once on one PostgreSQL database: each migration runs under
 * a transaction-scoped advisory lock, so one applies it and the others then see it applied.
 * (SQLite transactions already hold the file's write lock.)
 */
async function lockMigrations(tx: SqlDb): Promise<void> {
  if (tx.dialect === 'postgres') await tx.query('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK]);
}

export async function migrate(db: SqlDb, migrations: readonly Migration[]): Promise<string[]> {
  await db.transaction(async (tx) => {
    await lockMigrations(tx);
    await tx.exec('CREATE TABLE IF NOT EXISTS edgekd_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)');
  });
  const applied: string[] = [];
  for (const m of migrations) {
    await db.transaction(async (tx) => {
      await lockMigrations(tx);
      const done = await tx.query('SELECT id FROM edgekd_migrations WHERE id = ?', [m.id]);
      if (done.length > 0) return;
      await m.up(tx);
      await tx.exec('INSERT INTO edgekd_migrations (id, applied_at) VALUES (?, ?)', [m.id, Date.now()]);
      applied.push(m.id);
    });
  }
  return applied;
}

/**
 * `db` for a feature that owns its tables: the first statement through it (query, exec or
 * transaction) waits until `migrations` are applied; a failed migration fails every statement
 * with its error. Lets a feature create its tables itself without an async constructor.
 */
export function migratedOnFirstUse(db: SqlDb, migrations: readonly Migration[]): SqlDb {
  let ready: Promise<unknown> | null = null;
  const tables = (): Promise<unknown> => (ready ??= migrate(db, migrations));
  return {
    dialect: db.dialect,
    query: async (sql, params) => (await tables(), db.query(sql, params)),
    exec: async (sql, params) => (await tables(), db.exec(sql, params)),
    transaction: async (fn) => (await tables(), db.transaction(fn)),
    close: () => db.close(),
  };
}
