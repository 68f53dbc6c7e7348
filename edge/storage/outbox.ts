import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createFileSyncer } from './fsync-file';

/**
 * The persisted outbox of device reports (status, drift). A report is written here first and
 * published from here; it leaves only when the cloud acks its idempotency key.
 *
 * INVARIANTS
 * - `seq` comes from an AUTOINCREMENT column, so it strictly increases across restarts and is
 *   never reused even after acked rows are deleted (among rows anyone outside ever saw: see below).
 * - `key` is fixed at insert time and sent unchanged on every redelivery; the cloud de-duplicates
 *   on it, so "at least once" here becomes "exactly once" there.
 * - The driver is Node's built-in `node:sqlite` (no compiled module to build per Node ABI and
 *   per device architecture); its statements are synchronous, like the rest of this file assumes.
 * - WAL + synchronous=NORMAL: a report returned from `append` is in the WAL, which survives kill -9
 *   at once. Power loss is covered by `durable()`: it fsyncs the WAL file off the event loop (one
 *   fsync covers every append before it — a group commit), which is exactly what synchronous=FULL
 *   would do inside each commit, and callers publish only rows it returned as durable. So nothing
 *   the cloud has seen can vanish from the device; an append lost to a power cut before its fsync
 *   was never sent, and its seq may be given again.
 *   Before this, every append fsynced on the event loop: with 500 simulated agents in one process
 *   those blocking fsyncs were a quarter of the process's time during a rollout.
 * - The unacked rows are mirrored in memory (they are few: a deployment writes ~8), so reading
 *   what is due and marking rows sent touch no SQL. Sent time and attempt count live only in
 *   memory: after a restart every unacked report is due again, which a reconnect resends anyway.
 *   The disk sees one INSERT per report and one DELETE per ack. (Deferring the deletes into the
 *   next append's transaction saved a commit per report, but under a steady report stream — drift
 *   every second — the file then never drained: always one acked row waiting for the next append.)
 */
export interface OutboxEntry {
  readonly seq: number;
  readonly key: string;
  readonly kind: 'status' | 'drift';
  readonly payload: string;
  readonly sentAtMs: number | null;
  readonly attempts: number;
}

export interface Outbox {
  /** Appends a report; `build` receives the assigned seq and key and returns the JSON document. */
  append(kind: OutboxEntry['kind'], build: (seq: number, key: string) => unknown): OutboxEntry;
  /**
   * Makes every write to the database so far (appends, and writes announced with `wrote`)
   * power-loss durable; resolves with the highest durable seq.
   */
  durable(): Promise<number>;
  /** The database, for the agent's state record that shares it (and its WAL fsync). */
  readonly database: DatabaseSync;
  /** Another writer of `database` committed something `durable` must cover. */
  wrote(): void;
  /**
   * Reports not acked yet, oldest first, with `afterSeq` < seq ≤ `maxSeq`; with `sentBeforeMs`,
   * only those never sent or last sent before it.
   */
  pending(limit: number, opts?: { sentBeforeMs?: number; afterSeq?: number; maxSeq?: number }): OutboxEntry[];
  markSent(seqs: readonly number[], atMs: number): void;
  /** Deletes acked reports; returns how many were pending. */
  ack(keys: readonly string[]): number;
  count(): number;
  close(): void;
}

export function openOutbox(stateDir: string, newKey: () => string): Outbox {
  const path = join(stateDir, 'outbox.sqlite');
  const db = new DatabaseSync(path);
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  db.exec(`CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    sent_at_ms INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0
  )`);
  // seq order = insertion order of this map; rows already here when the outbox opens were durable
  // enough to be read back (an open after a power cut sees only what the WAL kept).
  type Row = { seq: number; key: string; kind: OutboxEntry['kind']; payload: string; sentAtMs: number | null; attempts: number };
  const rows = new Map<number, Row>();
  const byKey = new Map<string, number>();
  for (const r of db.prepare('SELECT seq, key, kind, payload FROM outbox ORDER BY seq').all() as unknown as Array<Omit<Row, 'sentAtMs' | 'attempts'>>) {
    rows.set(r.seq, { ...r, sentAtMs: null, attempts: 0 });
    byKey.set(r.key, r.seq);
  }
  // The AUTOINCREMENT high-water mark survives deletes; seqs are assigned here from it so an append
  // is one INSERT (the explicit seq still advances sqlite_sequence).
  const hw = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").get() as unknown as { seq: number } | undefined;
  let lastAppended = Math.max(hw?.seq ?? 0, ...rows.keys());
  let durableSeq = lastAppended;
  let writeGen = 0;
  let syncedGen = 0;
  let closed = false;
  const insert = db.prepare('INSERT INTO outbox (seq, key, kind, payload) VALUES (?, ?, ?, ?)');
  const del = db.prepare('DELETE FROM outbox WHERE seq = ?');
  // Every acked row of one ack message leaves in one commit (one WAL append, not one per row).
  const ackTx = (seqs: readonly number[]): void => {
    db.exec('BEGIN');
    try {
      for (const s of seqs) del.run(s);
      db.exec('COMMIT');
    } catch (e) {
      db.exec('ROLLBACK');
      throw e;
    }
  };

  // One fsync at a time; callers arriving while one runs wait for the next, which covers them.
  let syncing: Promise<void> | null = null;
  const wal = createFileSyncer(`${path}-wal`, stateDir);
  const syncOnce = async (): Promise<void> => {
    const gen = writeGen;
    const seq = lastAppended;
    await wal.sync();
    syncedGen = Math.max(syncedGen, gen);
    durableSeq = Math.max(durableSeq, seq);
  };

  return {
    append: (kind, build) => {
      const seq = lastAppended + 1;
      const key = newKey();
      const payload = JSON.stringify(build(seq, key));
      const row: Row = { seq, key, kind, payload, sentAtMs: null, attempts: 0 };
      insert.run(row.seq, row.key, row.kind, row.payload);
      lastAppended = seq;
      writeGen++;
      rows.set(seq, row);
      byKey.set(key, seq);
      return { ...row };
    },
    database: db,
    wrote: () => void writeGen++,
    async durable() {
      const need = writeGen;
      while (syncedGen < need) {
        if (!syncing) syncing = syncOnce().finally(() => (syncing = null));
        await syncing;
      }
      return durableSeq;
    },
    pending(limit, opts = {}) {
      const after = opts.afterSeq ?? 0;
      const max = opts.maxSeq ?? Number.MAX_SAFE_INTEGER;
      const before = opts.sentBeforeMs ?? Number.MAX_SAFE_INTEGER;
      const out: OutboxEntry[] = [];
      for (const r of rows.values()) {
        if (out.length >= limit || r.seq > max) break;
        if (r.seq > after && (r.sentAtMs === null || r.sentAtMs < before)) out.push({ ...r });
      }
      return out;
    },
    markSent(seqs, at) {
      for (const s of seqs) {
        const r = rows.get(s);
        if (r) {
          r.sentAtMs = at;
          r.attempts++;
        }
      }
    },
    ack(keys) {
      const seqs: number[] = [];
      for (const k of keys) {
        const s = byKey.get(k);
        if (s === undefined) continue;
        seqs.push(s);
        byKey.delete(k);
        rows.delete(s);
      }
      if (seqs.length > 0) ackTx(seqs);
      return seqs.length;
    },
    count: () => rows.size,
    close: () => {
      // A second close is a no-op (node:sqlite would throw "database is not open").
      if (closed) return;
      closed = true;
      void wal.close().catch(() => undefined);
      db.close();
    },
  };
}
