import type { FastifyReply, FastifyRequest } from 'fastify';
import type { JobRunner } from '../jobs/job-runner';
import type { JobEvent, JobRecord } from '../jobs/job-types';

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);

function frame(event: string, data: unknown, id?: number): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * Streams one job as Server-Sent Events: first every stored event after `after` (or the
 * Last-Event-ID header), then live ones, each with `id: seq` so a reconnecting EventSource
 * continues where it stopped. Live events that arrive during the replay are held and
 * de-duplicated by seq. A `state` event follows every state change; the stream ends with `end`
 * once the job is terminal (or right after the replay when `follow` is false).
 */
export async function streamJob(
  req: FastifyRequest,
  reply: FastifyReply,
  jobs: JobRunner,
  job: JobRecord,
  opts: { after: number; follow: boolean; heartbeatMs: number; onOpen(): void; onClose(): void },
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  opts.onOpen();
  let last = opts.after;
  let replaying = true;
  let closed = false;
  const held: JobEvent[] = [];
  const write = (s: string): void => {
    if (!closed) res.write(s);
  };
  const sendEvent = (e: JobEvent): void => {
    if (e.seq <= last) return;
    last = e.seq;
    write(frame(e.type, { ...e.data, seq: e.seq, at: e.at }, e.seq));
  };
  let heartbeat: NodeJS.Timeout | undefined;
  let unsubscribe = (): void => undefined;
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    unsubscribe();
    opts.onClose();
    res.end();
  };
  req.raw.on('close', close);

  unsubscribe = jobs.subscribe(job.id, (n) => {
    if (n.kind === 'event') {
      if (replaying) held.push(n.event);
      else sendEvent(n.event);
    } else if (!replaying) {
      write(frame('state', n.job));
      if (TERMINAL.has(n.job.state)) {
        write(frame('end', { state: n.job.state }));
        close();
      }
    }
  });

  write(frame('state', job));
  for (;;) {
    const batch = await jobs.events(job.id, last, { limit: 1000 });
    for (const e of batch) sendEvent(e);
    if (batch.length < 1000) break;
  }
  held.sort((a, b) => a.seq - b.seq).forEach(sendEvent);
  replaying = false;
  const now = await jobs.get(job.id);
  if (!opts.follow || TERMINAL.has(now.state)) {
    if (now.state !== job.state) write(frame('state', now));
    write(frame('end', { state: now.state }));
    close();
    return;
  }
  heartbeat = setInterval(() => write(': keep-alive\n\n'), opts.heartbeatMs);
  heartbeat.unref();
}
