import type { Logger } from '../../shared/log/logger';
import type { ReportNotices } from '../fleet/ingest/report-tail';
import type { SqlDb } from '../store/sql-db';
import { listenWithReconnect } from './pg-listen';

/**
 * "The report log grew" between cloud processes over PostgreSQL LISTEN/NOTIFY: an ingest process
 * announces after each committed batch, the fleet leader's report tail reads the log when told.
 * A notice is only a hint (the payload is the highest seq, unused by the reader); the tail also
 * polls, so a notice lost while the listening connection was down costs latency, not reports.
 * Announcements are coalesced: while one is in flight, later ones collapse into one more.
 * The channel is named after the schema, as the job bus's is.
 */
export function createPgReportNotices(o: { db: SqlDb; connectionString: string; schema?: string; log?: Logger; reconnectMs?: number }): ReportNotices {
  const channel = `edgekd_reports_${(o.schema ?? 'public').replace(/[^a-z0-9_]/gi, '').toLowerCase()}`.slice(0, 63);
  let sending = false;
  let next: number | null = null;
  const send = (seq: number): void => {
    sending = true;
    void o.db
      .exec('SELECT pg_notify(?, ?)', [channel, String(seq)])
      .catch((e) => o.log?.warn({ err: e }, 'could not announce logged reports to the fleet leader'))
      .finally(() => {
        sending = false;
        const n = next;
        next = null;
        if (n !== null) send(n);
      });
  };
  return {
    announce(seq) {
      if (sending) next = Math.max(next ?? 0, seq);
      else send(seq);
    },
    listen: (onNotice) => listenWithReconnect({ connectionString: o.connectionString, channel, what: 'report notice listener', ...(o.log ? { log: o.log } : {}), ...(o.reconnectMs !== undefined ? { reconnectMs: o.reconnectMs } : {}) }, () => onNotice()),
  };
}
