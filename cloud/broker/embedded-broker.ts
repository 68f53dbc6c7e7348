import net from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { EdgekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log/logger';
import { mayPublish, maySubscribe, type Principal } from './device-acl';

/** Decides who a connecting client is; null rejects the connection (bad username or password). */
export type Authenticate = (username: string | undefined, password: Buffer | undefined) => Promise<Principal | null>;

export interface EmbeddedBrokerOptions {
  host?: string;
  /** 0 picks a free port (tests). */
  port?: number;
  /**
   * Without it every client may connect and use every topic (tests of the protocol only; `edgekd
   * cloud` always passes one). With it, anonymous clients are refused and device-acl rules apply.
   */
  authenticate?: Authenticate;
  logger?: Logger;
}

export interface EmbeddedBroker {
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly aedes: Aedes;
  connectedClients(): number;
  /** Ends every live session of this device (after its credentials were revoked or rotated); returns how many. */
  disconnectDevice(deviceId: string): number;
  close(): Promise<void>;
}

/**
 * The zero-setup broker: aedes 1.2 in this process (MQTT 3.1.1 only; an MQTT 5 client is refused
 * with "unacceptable protocol version", so clients here must connect with protocolVersion 4).
 *
 * With `authenticate`, the device ACL of device-acl.ts is enforced. One difference from Mosquitto:
 * aedes disconnects a client that publishes to a topic it may not use, where Mosquitto drops the
 * message silently. Either way nothing reaches the other device's topic.
 *
 * Topic names with an empty level (`a//b`, a leading or trailing `/`) are refused for every
 * publisher, with or without authentication. aedes routes live messages with mqemitter, whose `+`
 * matches an empty level (as MQTT requires), but its in-memory persistence matches subscriptions
 * with a trie that does not: a QoS 1 message to `edgekd/v1/devices//status` reached the cloud's
 * persistent session without having been queued for it, aedes failed the delivery with "no such
 * packet" and closed the *subscriber's* connection (the cloud's). No protocol topic has an empty
 * level, so refusing them at the door removes the case without patching aedes.
 */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = opts.host ?? '127.0.0.1';
  const principals = new WeakMap<object, Principal>();
  const auth = opts.authenticate;
  const refuseShape = (topic: string): string | null => (hasEmptyLevel(topic) ? `topic '${topic.slice(0, 200)}' has an empty level` : null);
  const aedes = await Aedes.createBroker({
    // Large QoS 1 bursts (a wave of chunk responses) must not be dropped by the default queue limit.
    queueLimit: 10_000,
    ...(auth
      ? {
          authenticate: (client, username, password, done) => {
            auth(username ?? undefined, password ?? undefined).then(
              (p) => {
                if (!p) {
                  const e = new Error('bad username or password') as AuthenticateError;
                  e.returnCode = 4;
                  done(e, false);
                  return;
                }
                principals.set(client, p);
                done(null, true);
              },
              (e: unknown) => {
                const err = new Error(`authentication failed: ${(e as Error).message}`) as AuthenticateError;
                err.returnCode = 3;
                done(err, false);
              },
            );
          },
          authorizePublish: (client, packet, done) => {
            const p = client ? principals.get(client) : undefined;
            if (client === null) return done(null); // the broker itself (retained/will plumbing)
            if (p && !refuseShape(packet.topic) && mayPublish(p, packet.topic)) return done(null);
            opts.logger?.warn({ clientId: client.id, topic: packet.topic }, 'publish denied by ACL');
            done(new Error(`not authorized to publish to ${packet.topic}`));
          },
          authorizeSubscribe: (client, sub, done) => {
            const p = principals.get(client);
            if (p && maySubscribe(p, sub.topic)) return done(null, sub);
            opts.logger?.warn({ clientId: client.id, topic: sub.topic }, 'subscribe denied by ACL');
            done(null, null); // SUBACK 0x80 (failure) for this filter
          },
        }
      : {
          authorizePublish: (client, packet, done) => {
            const why = client === null ? null : refuseShape(packet.topic);
            if (why) opts.logger?.warn({ clientId: client?.id, why }, 'publish refused');
            done(why ? new Error(why) : null);
          },
        }),
  });
  aedes.on('clientError', (client, err) => opts.logger?.debug({ clientId: client?.id, err: err.message }, 'client error'));
  aedes.on('connectionError', (_client, err) => opts.logger?.debug({ err: err.message }, 'connection error'));

  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    aedes.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', `embedded broker cannot listen on ${host}:${opts.port ?? 1883}: ${e.code ?? e.message}`, { cause: e })),
    );
    server.listen(opts.port ?? 1883, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  let closed = false;
  return {
    url: `mqtt://${host}:${port}`,
    port,
    host,
    aedes,
    connectedClients: () => aedes.connectedClients,
    disconnectDevice(deviceId) {
      let n = 0;
      // `clients` (id → live client) is public in aedes but missing from its type declarations.
      for (const c of Object.values((aedes as unknown as { clients: Record<string, Client> }).clients)) {
        const p = principals.get(c);
        if (p?.kind === 'device' && p.deviceId === deviceId) {
          principals.delete(c);
          c.close();
          n++;
        }
      }
      return n;
    },
    async close() {
      if (closed) return;
      closed = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}

/** `a//b`, `/a`, `a/`: a level with no characters. */
export function hasEmptyLevel(topic: string): boolean {
  return topic.split('/').some((level) => level.length === 0);
}
