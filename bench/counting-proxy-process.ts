/**
 * The broker-restart bench's counting proxy, in its own process: it counts the TCP connections
 * that reach it per second and pipes them to the broker. In the bench process it shared an event
 * loop with the cloud (and with the embedded broker); when that loop was busy, connections waited
 * in the kernel's accept queue and were counted together when it came back, so the peak measured
 * the loop's stalls, not the devices' attempts. Here the loop does nothing else.
 *
 * IPC (process.send): first {ready:true}; then {op:'up', listen, upstream} → {ok:true}; {op:'down'} → {ok:true};
 * {op:'counts'} → {counts: [[second, n], …]}.
 */
import net from 'node:net';

let server: net.Server | null = null;
let upstream = 0;
const sockets = new Set<net.Socket>();
const perSecond = new Map<number, number>();

function open(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.createServer((client) => {
      const sec = Math.floor(Date.now() / 1000);
      perSecond.set(sec, (perSecond.get(sec) ?? 0) + 1);
      client.setNoDelay(true);
      const up = net.connect(upstream, '127.0.0.1');
      up.setNoDelay(true);
      sockets.add(client);
      sockets.add(up);
      const end = (): void => {
        client.destroy();
        up.destroy();
        sockets.delete(client);
        sockets.delete(up);
      };
      client.on('error', end).on('close', end);
      up.on('error', end).on('close', end);
      client.pipe(up);
      up.pipe(client);
    });
    s.once('error', reject);
    s.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => resolve());
    server = s;
  });
}

async function down(): Promise<void> {
  const s = server;
  server = null;
  for (const x of sockets) x.destroy();
  sockets.clear();
  if (s) await new Promise<void>((r) => s.close(() => r()));
}

process.on('message', (m: { op: 'up'; listen: number; upstream: number } | { op: 'down' } | { op: 'counts' }) => {
  const reply = (x: unknown): void => void process.send!(x);
  if (m.op === 'up') {
    upstream = m.upstream;
    open(m.listen).then(() => reply({ ok: true }), (e: Error) => reply({ ok: false, error: e.message }));
  } else if (m.op === 'down') void down().then(() => reply({ ok: true }));
  else reply({ counts: [...perSecond] });
});
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });
