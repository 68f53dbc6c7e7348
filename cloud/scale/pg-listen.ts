import pg from 'pg';
import type { Logger } from '../../shared/log/logger';

/**
 * A LISTEN connection of its own on one PostgreSQL channel, for the life of the caller. When the
 * connection drops it reconnects after `reconnectMs`; notices sent meanwhile are lost, which every
 * caller tolerates because a notice is only a hint to read the store. Resolves once the first
 * LISTEN is in place (rejects if that fails); the returned function stops listening.
 */
export async function listenWithReconnect(
  o: { connectionString: string; channel: string; what: string; log?: Logger; reconnectMs?: number },
  onPayload: (payload: string | undefined) => void,
): Promise<() => Promise<void>> {
  let client: pg.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: o.connectionString });
    c.on('error', (e) => {
      o.log?.warn({ err: e }, `${o.what} lost its connection; reconnecting`);
      c.end().catch(() => undefined);
      if (client === c) client = null;
      if (!closed) retry = setTimeout(() => void connect().catch(() => undefined), o.reconnectMs ?? 1_000);
    });
    c.on('notification', (m) => {
      if (m.channel === o.channel) onPayload(m.payload);
    });
    await c.connect();
    await c.query(`LISTEN ${o.channel}`);
    client = c;
  };
  await connect();
  return async () => {
    closed = true;
    clearTimeout(retry);
    await client?.end().catch(() => undefined);
    client = null;
  };
}
