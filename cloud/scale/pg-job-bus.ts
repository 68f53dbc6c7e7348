import type { Logger } from '../../shared/log/logger';
import type { JobNoticeBus, JobNoticeRef } from '../jobs/job-runner';
import { SerialQueue } from '../store/serial-queue';
import type { SqlDb } from '../store/sql-db';
import { listenWithReconnect } from './pg-listen';

/**
 * Job notices between cloud processes over PostgreSQL LISTEN/NOTIFY. A notice carries only the
 * job id, the kind and the event's seq (NOTIFY payloads are limited to 8000 bytes; events are
 * already in `edgekd_job_events` before they are announced), plus the sender so it ignores its own.
 *
 * Sending goes through the shared pool (`pg_notify`), one at a time so a job's notices leave in
 * seq order; PostgreSQL delivers notifications in commit order. Listening needs one connection of
 * its own for the life of the process; when it drops, it reconnects, and a live view that missed
 * notices meanwhile still has the store (SSE replays from it on reconnect).
 * The channel is named after the schema so databases shared by several installations (or test
 * schemas) do not hear each other.
 */
export function createPgJobBus(opts: { db: SqlDb; connectionString: string; schema?: string; origin: string; log?: Logger; reconnectMs?: number }): JobNoticeBus {
  const channel = `edgekd_jobs_${(opts.schema ?? 'public').replace(/[^a-z0-9_]/gi, '').toLowerCase()}`;
  const sends = new SerialQueue();
  return {
    publish(notice) {
      const payload = JSON.stringify({ o: opts.origin, j: notice.jobId, k: notice.kind, ...(notice.seq !== undefined ? { s: notice.seq } : {}) });
      void sends.run(() => opts.db.exec('SELECT pg_notify(?, ?)', [channel, payload])).catch((e) => opts.log?.warn({ err: e }, 'could not announce a job notice to the other processes'));
    },
    listen(onNotice) {
      const received = new SerialQueue();
      return listenWithReconnect({ connectionString: opts.connectionString, channel, what: 'job notice listener', ...(opts.log ? { log: opts.log } : {}), ...(opts.reconnectMs !== undefined ? { reconnectMs: opts.reconnectMs } : {}) }, (payload) => {
        if (!payload) return;
        let n: { o?: unknown; j?: unknown; k?: unknown; s?: unknown };
        try {
          n = JSON.parse(payload) as typeof n;
        } catch {
          return;
        }
        if (n.o === opts.origin || typeof n.j !== 'string' || (n.k !== 'event' && n.k !== 'state')) return;
        const ref: JobNoticeRef = { jobId: n.j, kind: n.k, ...(typeof n.s === 'number' ? { seq: n.s } : {}) };
        void received.run(() => onNotice(ref)).catch((e) => opts.log?.warn({ err: e, job: ref.jobId }, 'could not relay a job notice'));
      });
    },
  };
}
