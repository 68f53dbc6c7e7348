import Database from 'better-sqlite3';
import { join } from 'node:path';

/**
 * The persisted outbox of device reports (status, drift). A report is written here first and
 * published from here; it leaves only when the cloud acks its idempotency key.
 *
 * INVARIANTS
 * - `seq` comes from an AUTOINCREMENT column, so it strictly increases across restarts and is
 *   never reused even after acked rows are deleted.
 * - `key` is fixed at insert time and sent unchanged on every redelivery; the cloud de-duplicates
 *   on it, so "at least once" here becomes "exactly once" there.
 * - WAL + synchronous=FULL for appends: a report returned from `append` survives kill -9 and
 *   power loss. Marking rows sent and deleting acked rows run with synchronous=NORMAL (still safe
 *   against kill -9 in WAL mode): losing one of those to a power cut only causes a resend, which
 *   the cloud drops by key, and it saves two fsyncs per report.
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
   * Reports not acked yet, oldest first, with seq > `afterSeq`; with `sentBeforeMs`, only those
   * never sent or last sent before it.
   */
  pending(limit: number, opts?: { sentBeforeMs?: number; afterSeq?: number }): OutboxEntry[];
  markSent(seqs: readonly number[], atMs: number): void;
  /** Deletes acked reports; returns how many were pending. */
  ack(keys: readonly string[]): number;
  count(): number;
  close(): void;
}

export function openOutbox(stateDir: string, newKey: () => string): Outbox {
  const db = new Database(join(stateDir, 'outbox.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(`CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    sent_at_ms INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0
  )`);
  const insert = db.prepare('INSERT INTO outbox (key, kind, payload) VALUES (?, ?, ?)');
  const setPayload = db.prepare('UPDATE outbox SET payload = ? WHERE seq = ?');
  const selectDue = db.prepare(
    'SELECT seq, key, kind, payload, sent_at_ms AS sentAtMs, attempts FROM outbox WHERE seq > ? AND (sent_at_ms IS NULL OR sent_at_ms < ?) ORDER BY seq LIMIT ?',
  );
  const sent = db.prepare('UPDATE outbox SET sent_at_ms = ?, attempts = attempts + 1 WHERE seq = ?');
  const del = db.prepare('DELETE FROM outbox WHERE key = ?');
  const countStmt = db.prepare('SELECT COUNT(*) AS n FROM outbox');

  const appendTx = db.transaction((kind: string, build: (seq: number, key: string) => unknown) => {
    const key = newKey();
    const seq = Number(insert.run(key, kind, '').lastInsertRowid);
    const payload = JSON.stringify(build(seq, key));
    setPayload.run(payload, seq);
    return { seq, key, kind, payload, sentAtMs: null, attempts: 0 } as OutboxEntry;
  });
  const sentTx = db.transaction((seqs: readonly number[], at: number) => {
    for (const s of seqs) sent.run(at, s);
  });
  const ackTx = db.transaction((keys: readonly string[]) => {
    let n = 0;
    for (const k of keys) n += del.run(k).changes;
    return n;
  });

  const relaxed = <T>(fn: () => T): T => {
    db.pragma('synchronous = NORMAL');
    try {
      return fn();
    } finally {
      db.pragma('synchronous = FULL');
    }
  };

  return {
    append: (kind, build) => appendTx(kind, build),
    pending: (limit, opts = {}) => selectDue.all(opts.afterSeq ?? 0, opts.sentBeforeMs ?? Number.MAX_SAFE_INTEGER, limit) as OutboxEntry[],
    markSent: (seqs, at) => relaxed(() => sentTx(seqs, at)),
    ack: (keys) => relaxed(() => ackTx(keys)),
    count: () => (countStmt.get() as { n: number }).n,
    close: () => db.close(),
  };
}
