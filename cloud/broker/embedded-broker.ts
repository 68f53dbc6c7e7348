import net from 'node:net';
import { Aedes, type AuthenticateError } from 'aedes';
import { EdgekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log/logger';
import { mayPublish, maySubscribe, type Principal } from './device-acl';

/** Decides who a connecting client is; null rejects the connection (bad username or password). */
export type Authenticate = (username: string | undefined, password: Buffer | undefined) => Promise<Principal | null>;

export interface EmbeddedBrokerOptions {
  host?: string;
  /** 0 picks a free port (tests). */
  port?: number;
  /** Without it every client may connect and use every topic (a local demo). With it, device-acl rules apply. */
  authenticate?: Authenticate;
  logger?: Logger;
}

export interface EmbeddedBroker {
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly aedes: Aedes;
  connectedClients(): number;
  close(): Promise<void>;
}

/**
 * The zero-setup broker: aedes 1.2 in this process (MQTT 3.1.1 only; an MQTT 5 client is refused
 * with "unacceptable protocol version", so clients here must connect with protocolVersion 4).
 *
 * With `authenticate`, the device ACL of device-acl.ts is enforced. One difference from Mosquitto:
 * aedes disconnects a client that publishes to a topic it may not use, where Mosquitto drops the
 * message silently. Either way nothing reaches the other device's topic.
 */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = opts.host ?? '127.0.0.1';
  const principals = new WeakMap<object, Principal>();
  const auth = opts.authenticate;
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
            if (p && mayPublish(p, packet.topic)) return done(null);
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
      : {}),
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
