import type { SqlDb, SqlRow } from '../store/sql-db';
import type { JobError, JobEvent, JobEventData, JobRecord, JobState } from './job-types';

interface JobRow extends SqlRow {
  id: string;
  kind: string;
  state: string;
  params: string;
  result: string | null;
  error: string | null;
  progress: string | null;
  attempt: number;
  resume: number;
  cancel_requested: number;
  owner: string | null;
  lease_until: number | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
}

const json = (s: string | null): unknown => (s === null ? null : JSON.parse(s));

function toRecord(r: JobRow): JobRecord {
  return {
    id: r.id,
    kind: r.kind,
    state: r.state as JobState,
    params: json(r.params),
    result: json(r.result),
    error: json(r.error) as JobError | null,
    progress: json(r.progress) as Record<string, unknown> | null,
    attempt: Number(r.attempt),
    resume: Number(r.resume) === 1,
    cancelRequested: Number(r.cancel_requested) === 1,
    owner: r.owner,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    startedAt: r.started_at === null ? null : Number(r.started_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
  };
}

/**
 * All SQL of the job queue. State changes are conditional updates (`WHERE state = …`) so two
 * runners on one PostgreSQL database cannot both claim a job, and a late message from a killed
 * child cannot overwrite a newer state.
 */
export class JobRepository {
  constructor(private readonly db: SqlDb) {}

  async insert(job: { id: string; kind: string; params: unknown; now: number }): Promise<void> {
    await this.db.exec(
      'INSERT INTO edgekd_jobs (id, kind, state, params, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      [job.id, job.kind, 'queued', JSON.stringify(job.params ?? null), job.now, job.now],
    );
  }

  async get(id: string): Promise<JobRecord | null> {
    const rows = await this.db.query<JobRow>('SELECT * FROM edgekd_jobs WHERE id = ?', [id]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async list(filter: { kind?: string; state?: JobState; limit?: number } = {}): Promise<JobRecord[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.kind) {
      where.push('kind = ?');
      params.push(filter.kind);
    }
    if (filter.state) {
      where.push('state = ?');
      params.push(filter.state);
    }
    params.push(filter.limit ?? 200);
    const rows = await this.db.query<JobRow>(
      `SELECT * FROM edgekd_jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`,
      params,
    );
    return rows.map(toRecord);
  }

  async countByState(): Promise<Record<string, number>> {
    const rows = await this.db.query<{ state: string; n: number }>('SELECT state, COUNT(*) AS n FROM edgekd_jobs GROUP BY state');
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }

  /** Oldest queued job of a known kind, claimed atomically; null when none is waiting. */
  async claimNext(kinds: readonly string[], owner: string, now: number, leaseMs: number): Promise<JobRecord | null> {
    if (kinds.length === 0) return null;
    return this.db.transaction(async (tx) => {
      const marks = kinds.map(() => '?').join(', ');
      const rows = await tx.query<{ id: string }>(
        `SELECT id FROM edgekd_jobs WHERE state = 'queued' AND kind IN (${marks}) ORDER BY created_at, id LIMIT 1`,
        [...kinds],
      );
      const id = rows[0]?.id;
      if (!id) return null;
      const changed = await tx.exec(
        `UPDATE edgekd_jobs SET state = 'running', owner = ?, lease_until = ?, attempt = attempt + 1,
           started_at = ?, updated_at = ?, finished_at = NULL, error = NULL
         WHERE id = ? AND state = 'queued'`,
        [owner, now + leaseMs, now, now, id],
      );
      if (changed === 0) return null;
      const got = await tx.query<JobRow>('SELECT * FROM edgekd_jobs WHERE id = ?', [id]);
      return got[0] ? toRecord(got[0]) : null;
    });
  }

  /** Extends this owner's leases; returns the ids it no longer holds (taken over or ended elsewhere). */
  async renewLeases(owner: string, ids: readonly string[], until: number): Promise<string[]> {
    const lost: string[] = [];
    for (const id of ids) {
      const n = await this.db.exec("UPDATE edgekd_jobs SET lease_until = ? WHERE id = ? AND owner = ? AND state = 'running'", [until, id, owner]);
      if (n === 0) lost.push(id);
    }
    return lost;
  }

  /**
   * Running jobs of another runner whose lease ran out (that process died, hung or lost the
   * database): back to the queue with `resume` set, in one conditional update per job so two
   * runners doing this at once hand each job back once.
   */
  async reclaimExpired(owner: string, now: number): Promise<string[]> {
    const rows = await this.db.query<{ id: string; owner: string; lease_until: number }>(
      "SELECT id, owner, lease_until FROM edgekd_jobs WHERE state = 'running' AND lease_until < ? AND owner <> ?",
      [now, owner],
    );
    const back: string[] = [];
    for (const r of rows) {
      const n = await this.db.exec(
        "UPDATE edgekd_jobs SET state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END, resume = 1, owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ? AND state = 'running' AND owner = ? AND lease_until = ?",
        [now, r.id, r.owner, r.lease_until],
      );
      if (n > 0) back.push(r.id);
    }
    return back;
  }

  /**
   * Jobs left `running` by a runner that is gone: this runner's own earlier life (same owner id,
   * so it cannot still be running them) or any runner whose lease ran out. They go back to the
   * queue with `resume` set.
   */
  async reclaimOrphans(owner: string, now: number): Promise<string[]> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<{ id: string; cancel_requested: number }>(
        "SELECT id, cancel_requested FROM edgekd_jobs WHERE state = 'running' AND (owner = ? OR lease_until < ?)",
        [owner, now],
      );
      for (const r of rows) {
        if (Number(r.cancel_requested) === 1) {
          await tx.exec("UPDATE edgekd_jobs SET state = 'cancelled', owner = NULL, finished_at = ?, updated_at = ? WHERE id = ?", [now, now, r.id]);
        } else {
          await tx.exec("UPDATE edgekd_jobs SET state = 'queued', resume = 1, owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ?", [now, r.id]);
        }
      }
      return rows.filter((r) => Number(r.cancel_requested) !== 1).map((r) => r.id);
    });
  }

  /** Ends a running job owned by `owner`. Returns false when it was no longer ours to end. */
  async finish(id: string, owner: string, outcome: { state: 'succeeded' | 'failed' | 'cancelled'; result?: unknown; error?: JobError }, now: number): Promise<boolean> {
    const changed = await this.db.exec(
      `UPDATE edgekd_jobs SET state = ?, result = ?, error = ?, owner = NULL, lease_until = NULL, finished_at = ?, updated_at = ?
       WHERE id = ? AND owner = ? AND state = 'running'`,
      [outcome.state, outcome.result === undefined ? null : JSON.stringify(outcome.result), outcome.error ? JSON.stringify(outcome.error) : null, now, now, id, owner],
    );
    return changed > 0;
  }

  /** A running job handed back (runner shutting down): queued again, resumable. */
  async requeue(id: string, owner: string, now: number): Promise<void> {
    await this.db.exec(
      "UPDATE edgekd_jobs SET state = 'queued', resume = 1, owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ? AND owner = ? AND state = 'running'",
      [now, id, owner],
    );
  }

  /** queued → cancelled directly; running → flagged (the runner stops the child). */
  async requestCancel(id: string, now: number): Promise<'cancelled' | 'flagged' | null> {
    return this.db.transaction(async (tx) => {
      const q = await tx.exec("UPDATE edgekd_jobs SET state = 'cancelled', finished_at = ?, updated_at = ? WHERE id = ? AND state = 'queued'", [now, now, id]);
      if (q > 0) return 'cancelled';
      const r = await tx.exec("UPDATE edgekd_jobs SET cancel_requested = 1, updated_at = ? WHERE id = ? AND state = 'running'", [now, id]);
      return r > 0 ? 'flagged' : null;
    });
  }

  /** failed | cancelled → queued with resume set. Returns false for any other state. */
  async requestResume(id: string, now: number): Promise<boolean> {
    const changed = await this.db.exec(
      "UPDATE edgekd_jobs SET state = 'queued', resume = 1, cancel_requested = 0, error = NULL, finished_at = NULL, updated_at = ? WHERE id = ? AND state IN ('failed', 'cancelled')",
      [now, id],
    );
    return changed > 0;
  }

  async lastSeq(id: string): Promise<number> {
    const rows = await this.db.query<{ s: number | null }>('SELECT MAX(seq) AS s FROM edgekd_job_events WHERE job_id = ?', [id]);
    return rows[0]?.s === null || rows[0]?.s === undefined ? 0 : Number(rows[0].s);
  }

  async appendEvent(id: string, seq: number, at: number, event: JobEventData): Promise<void> {
    const { type, ...data } = event;
    await this.db.transaction(async (tx) => {
      await tx.exec('INSERT INTO edgekd_job_events (job_id, seq, at, type, data) VALUES (?, ?, ?, ?, ?)', [id, seq, at, type, JSON.stringify(data)]);
      await tx.exec('UPDATE edgekd_jobs SET progress = ?, updated_at = ? WHERE id = ?', [JSON.stringify({ ...event, seq, at }), at, id]);
    });
  }

  async events(id: string, afterSeq = 0, limit = 5000, type?: string): Promise<JobEvent[]> {
    const rows = await this.db.query<{ job_id: string; seq: number; at: number; type: string; data: string }>(
      `SELECT * FROM edgekd_job_events WHERE job_id = ? AND seq > ? ${type ? 'AND type = ?' : ''} ORDER BY seq LIMIT ?`,
      type ? [id, afterSeq, type, limit] : [id, afterSeq, limit],
    );
    return rows.map((r) => ({ jobId: r.job_id, seq: Number(r.seq), at: Number(r.at), type: r.type, data: JSON.parse(r.data) as Record<string, unknown> }));
  }
}
