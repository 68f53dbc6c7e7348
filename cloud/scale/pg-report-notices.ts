import pg from 'pg';
import type { Logger } from '../../shared/log/logger';
import type { ReportNotices } from '../fleet/ingest/report-tail';
import type { SqlDb } from '../store/sql-db';

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
    async listen(onNotice) {
      let client: pg.Client | null = null;
      let closed = false;
      let retry: NodeJS.Timeout | undefined;
      const connect = async (): Promise<void> => {
        const c = new pg.Client({ connectionString: o.connectionString });
        c.on('error', (e) => {
          o.log?.warn({ err: e }, 'report notice listener lost its connection; reconnecting');
          c.end().catch(() => undefined);
          if (client === c) client = null;
          if (!closed) retry = setTimeout(() => void connect().catch(() => undefined), o.reconnectMs ?? 1_000);
        });
        c.on('notification', (m) => {
          if (m.channel === channel) onNotice();
        });
        await c.connect();
        await c.query(`LISTEN ${channel}`);
        client = c;
      };
      await connect();
      return async () => {
        closed = true;
        clearTimeout(retry);
        await client?.end().catch(() => undefined);
        client = null;
      };
    },
  };
}
