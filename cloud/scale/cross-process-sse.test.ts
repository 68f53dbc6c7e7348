import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPostgres, POSTGRES_URL } from '../../test/helpers/services';
import { startCloud, type RunningCloud } from '../api/start-cloud';
import { pgSchema } from './postgres-schema.test-helper';

// The queue's CPU-burning stand-in handler, registered under the run kind so the runs stream serves it.
const SPIN = fileURLToPath(new URL('../jobs/fixtures/spin-job.ts', import.meta.url));
const TOKEN = 'viewer-and-more-token';
const d = await describeWithPostgres();

/** Reads an SSE response to its `end` event; returns the frames as [event, data]. */
async function readStream(url: string): Promise<Array<[string, Record<string, unknown>]>> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}`, accept: 'text/event-stream' } });
  expect(res.status).toBe(200);
  const frames: Array<[string, Record<string, unknown>]> = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) frames.push([event, JSON.parse(data) as Record<string, unknown>]);
      if (event === 'end') return frames;
    }
  }
  return frames;
}

d('job progress across cloud processes (PostgreSQL LISTEN/NOTIFY)', () => {
  const pg = pgSchema();
  const dirs: string[] = [];
  // Valid `distill` params (the runner parses them against the job-kind table); the spin stand-in
  // registered under that kind reads its step plan from `config`.
  const spinRun = (steps: number, stepMs: number) => ({ teacherPath: '/unused', student: 'spin', method: 'ssdkd', config: { steps, stepMs } });
  let api: RunningCloud;
  let worker: RunningCloud;
  const start = (role: 'api' | 'worker', processId: string): Promise<RunningCloud> => {
    const dir = mkdtempSync(join(tmpdir(), `edgekd-${role}-`));
    dirs.push(dir);
    return startCloud({
      dataDir: dir, db: POSTGRES_URL, dbSchema: pg.schema, role, processId, port: 0,
      // Split roles refuse the embedded broker; api and worker never connect to this one.
      brokerUrl: 'mqtt://127.0.0.1:1',
      jobKinds: { distill: { module: SPIN } },
      tokens: [{ token: TOKEN, role: 'admin', name: 'tester' }], logLevel: 'silent', jobEnv: { EDGEKD_LOG_LEVEL: 'warn' },
    });
  };
  beforeAll(async () => {
    api = await start('api', 'api-1');
    worker = await start('worker', 'worker-1');
  });
  afterAll(async () => {
    await api?.close();
    await worker?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('streams every progress event of a run executing on the worker to an SSE client on the api process', async () => {
    expect(api.absent['job execution']).toMatch(/worker processes run them/);
    const job = await api.jobs.submit('distill', spinRun(12, 60));
    // Connect while the job is queued or early in its run, so most events arrive live, not from replay.
    const frames = await readStream(`${api.url}/api/runs/${job.id}/stream`);
    const steps = frames.filter(([e]) => e === 'step').map(([, d]) => d.seq);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const states = frames.filter(([e]) => e === 'state').map(([, d]) => d.state);
    expect(states.at(-1)).toBe('succeeded');
    expect(frames.at(-1)).toEqual(['end', { state: 'succeeded' }]);
    const done = await api.jobs.get(job.id);
    // It ran on the worker's runner, in a child of the worker process, not in the api process.
    expect((done.result as { pid: number }).pid).not.toBe(process.pid);
    expect(worker.jobs.kinds).toContain('distill');
  });

  it('delivers the live notices themselves, not only the store replay', async () => {
    const seen: number[] = [];
    const states: string[] = [];
    const job = await api.jobs.submit('distill', spinRun(5, 40));
    const off = api.jobs.subscribe(job.id, (n) => (n.kind === 'event' ? seen.push(n.event.seq) : states.push(n.job.state)));
    try {
      const end = Date.now() + 20_000;
      while (!states.includes('succeeded') && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
      expect(seen).toEqual([1, 2, 3, 4, 5]);
      expect(states).toContain('running');
      expect(states.at(-1)).toBe('succeeded');
    } finally {
      off();
    }
  });
});
