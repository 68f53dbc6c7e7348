import type { Logger } from '../../../shared/log/logger';
import type { SerialQueue } from '../../store/serial-queue';
import type { FleetStore, StoredReport } from '../store/fleet-store';

export interface ReportTail {
  /** Starts following the log after `fromSeq` (everything up to it is the caller's). */
  start(fromSeq: number): void;
  /** Something was logged (by this process, or a notice from another): read the log soon. */
  poke(): void;
  /** Reports handed on so far. */
  delivered(): number;
  close(): void;
}

/**
 * How the fleet leader follows the report log when several processes write it (shared ingest):
 * it reads the rows after its cursor in seq order and hands each on exactly once. The log is
 * complete up to any committed seq (FleetStore.logReports serialises writers), so a cursor never
 * passes a report that could still appear. Reads run in the controller's serial queue, so a
 * report is applied between, never during, snapshots and rollout changes. Woken by `poke` (this
 * process logged something, or a PostgreSQL notice said another did) and by a poll as fallback
 * for lost notices.
 */
export function createReportTail(o: {
  store: Pick<FleetStore, 'reportsSince'>;
  queue: SerialQueue;
  deliver: (report: StoredReport) => void;
  log: Logger;
  pollMs?: number;
  batch?: number;
}): ReportTail {
  const batch = o.batch ?? 2_000;
  let cursor: number | null = null;
  let queued = false;
  let closed = false;
  let count = 0;
  let timer: NodeJS.Timeout | undefined;

  const read = async (): Promise<void> => {
    queued = false;
    if (cursor === null || closed) return;
    for (;;) {
      const rows = await o.store.reportsSince(cursor, batch);
      for (const r of rows) {
        cursor = r.seq;
        count++;
        try {
          o.deliver(r);
        } catch (err) {
          o.log.error({ err, seq: r.seq }, 'applying a logged report failed');
        }
      }
      if (rows.length < batch) return;
    }
  };
  const poke = (): void => {
    if (queued || closed) return; // a read not yet started will see this too
    queued = true;
    void o.queue.run(read).catch((err) => o.log.warn({ err }, 'reading the report log failed; the next poll retries'));
  };
  return {
    start(fromSeq) {
      cursor = fromSeq;
      timer = setInterval(poke, o.pollMs ?? 1_000);
      poke();
    },
    poke,
    delivered: () => count,
    close() {
      closed = true;
      clearInterval(timer);
    },
  };
}

/** Cross-process hints that the report log grew (PostgreSQL: cloud/scale/pg-report-notices.ts). */
export interface ReportNotices {
  /** Tells the other processes that reports up to `lastSeq` are logged; best effort. */
  announce(lastSeq: number): void;
  /** Calls `onNotice` when another process announced; resolves to a stop function. */
  listen(onNotice: () => void): Promise<() => Promise<void>>;
}
