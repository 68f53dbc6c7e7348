import net from 'node:net';
import { Aedes } from 'aedes';

/** An embedded aedes broker (MQTT 3.1.1) on a free loopback port, for edge tests. */
export interface TestBroker {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startTestBroker(port = 0): Promise<TestBroker> {
  const aedes = await Aedes.createBroker({ queueLimit: 10_000 });
  const server = net.createServer(aedes.handle);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as net.AddressInfo).port;
  return {
    url: `mqtt://127.0.0.1:${actual}`,
    port: actual,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}
