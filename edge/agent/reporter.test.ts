import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../shared/log/logger';
import type { DeploymentState, Heartbeat, ModelRef, TopicKind } from '../../shared/protocol';
import { openOutbox, type Outbox } from '../storage/outbox';
import { createReporter, type ReportLink, type ReporterSources } from './reporter';

/*
 * The reporter over a real SQLite outbox and a recording link: what is persisted, what leaves,
 * when it is resent, and what heartbeats and presence say.
 */

const dirs: string[] = [];
const outboxes: Outbox[] = [];
afterEach(() => {
  for (const o of outboxes.splice(0)) o.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const model: ModelRef = { name: 'mlp', version: 1, sha256: 'a'.repeat(64) };

function recordingLink(connected = true): ReportLink & { sent: Array<{ kind: TopicKind; doc: Record<string, unknown> }>; heartbeats: Heartbeat[]; connected: boolean } {
  const link = {
    connected,
    sent: [] as Array<{ kind: TopicKind; doc: Record<string, unknown> }>,
    heartbeats: [] as Heartbeat[],
    publish: async (_kind: 'heartbeat', m: Heartbeat) => void link.heartbeats.push(m),
    publishRaw: async (kind: TopicKind, payload: string) => void link.sent.push({ kind, doc: JSON.parse(payload) }),
  };
  return link;
}

function setup(o: { now?: { ms: number }; deployment?: { deploymentId: string; state: DeploymentState } | null; connected?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-reporter-'));
  dirs.push(dir);
  let n = 0;
  const outbox = openOutbox(dir, () => `key-${++n}`);
  outboxes.push(outbox);
  const now = o.now ?? { ms: 1_000_000 };
  const sources: ReporterSources = {
    servingWindow: () => ({ count: 4, errors: 1, latenciesMs: [1, 2, 3, 4] }),
    activeModel: () => ({ ref: model, executionProvider: 'cpu' }),
    deployment: () => o.deployment ?? null,
    bootSeq: () => 7,
    runtimeInfo: () => ({ onnxruntime: '1.0.0', executionProviders: ['cpu'], platform: 'linux', arch: 'x64', node: '22.0.0' }),
    trustedKeyIds: () => ['k1'],
    resources: () => ({ rssBytes: 10, loadAvg: [0, 0, 0] }),
  };
  const reporter = createReporter({
    identity: { deviceId: 'dev-1', bootId: 'boot-1' }, nowMs: () => now.ms, log: createLogger('reporter-test', 'silent'),
    heartbeatIntervalMs: 5_000, outboxResendIntervalMs: 30_000, sources,
  });
  const link = recordingLink(o.connected ?? true);
  reporter.open(outbox, link);
  return { reporter, outbox, link, now };
}

/** Lets delivery (a WAL fsync on the thread pool, then the publish) run its course. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 20));
}

describe('reporter', () => {
  it('persists a status report in the protocol envelope and publishes it once durable', async () => {
    const { reporter, outbox, link } = setup();
    reporter.status({ deploymentId: 'd1', state: 'downloading' });
    expect(outbox.count()).toBe(1);
    await settle();
    expect(link.sent).toHaveLength(1);
    expect(link.sent[0]).toMatchObject({ kind: 'status', doc: { schema: 'edgekd.status/1', deviceId: 'dev-1', bootId: 'boot-1', seq: 1, idempotencyKey: 'key-1', deploymentId: 'd1', state: 'downloading' } });
  });

  it('keeps a report until the cloud acks its key', async () => {
    const { reporter, outbox, link } = setup();
    reporter.status({ deploymentId: 'd1', state: 'verifying' });
    await settle();
    expect(outbox.count()).toBe(1);
    reporter.ack([link.sent[0]!.doc.idempotencyKey as string]);
    expect(reporter.pending()).toBe(0);
  });

  it('refuses a report the protocol would refuse before it reaches the outbox', () => {
    const { reporter, outbox } = setup();
    expect(() => reporter.status({ deploymentId: 'd1', state: 'no-such-state' as DeploymentState })).toThrow();
    expect(outbox.count()).toBe(0);
  });

  it('queues reports while disconnected and sends them all after a connect', async () => {
    const { reporter, link } = setup({ connected: false });
    reporter.status({ deploymentId: 'd1', state: 'downloading' });
    reporter.status({ deploymentId: 'd1', state: 'verifying' });
    await settle();
    expect(link.sent).toEqual([]);
    link.connected = true;
    await reporter.flush(true);
    expect(link.sent.map((s) => s.doc.state)).toEqual(['downloading', 'verifying']);
  });

  it('resends an unacked report only after the resend interval, and every one after a reconnect', async () => {
    const { reporter, link, now } = setup();
    reporter.status({ deploymentId: 'd1', state: 'downloading' });
    await settle();
    expect(link.sent).toHaveLength(1);
    await reporter.flush(false);
    expect(link.sent).toHaveLength(1);
    now.ms += 30_001;
    await reporter.flush(false);
    expect(link.sent).toHaveLength(2);
    await reporter.flush(true);
    expect(link.sent).toHaveLength(3);
    expect(new Set(link.sent.map((s) => s.doc.idempotencyKey)).size).toBe(1);
  });

  it('wraps drift statistics in the drift envelope, and refuses them before it has an outbox', async () => {
    const { reporter, link } = setup();
    const window = { start: new Date(0).toISOString(), end: new Date(1000).toISOString(), inferences: 3 };
    reporter.drift({ windowSize: 3 }, model, window);
    await settle();
    expect(link.sent[0]).toMatchObject({ kind: 'drift', doc: { schema: 'edgekd.drift/1', model, window, stats: { windowSize: 3 } } });
    reporter.close();
    expect(() => reporter.drift({}, model, window)).toThrow(expect.objectContaining({ code: 'EDGEKD_ROLLOUT_STATE' }));
  });

  it('shows download progress in heartbeats only for the current deployment', () => {
    const { reporter } = setup({ deployment: { deploymentId: 'd2', state: 'downloading' } });
    reporter.progress('d1', 5, 10);
    expect(reporter.heartbeat().deployment).toEqual({ deploymentId: 'd2', state: 'downloading' });
    reporter.progress('d2', 4, 8);
    expect(reporter.heartbeat().deployment).toEqual({ deploymentId: 'd2', state: 'downloading', bytesDone: 4, bytesTotal: 8 });
  });

  it('publishes a heartbeat only while connected', () => {
    const { reporter, link } = setup({ connected: false });
    reporter.sendHeartbeat();
    expect(link.heartbeats).toEqual([]);
    link.connected = true;
    reporter.sendHeartbeat();
    expect(link.heartbeats).toHaveLength(1);
    expect(link.heartbeats[0]).toMatchObject({ inference: { count: 4, errors: 1 }, activeModel: model, executionProvider: 'cpu', outboxPending: 0 });
  });

  it('announces boot and connection sequence, runtime and trusted keys in presence; offline is the lost will', () => {
    const { reporter } = setup();
    expect(reporter.presence('online', 3)).toMatchObject({ state: 'online', bootSeq: 7, sessionSeq: 3, bootId: 'boot-1', activeModel: model, trustedKeyIds: ['k1'], runtime: { onnxruntime: '1.0.0' } });
    expect(reporter.presence('online', 3).reason).toBeUndefined();
    expect(reporter.presence('offline', 3).reason).toBe('lost');
  });

  it('waits for acks on a drain, bounded by its limit', async () => {
    const { reporter, link } = setup();
    reporter.status({ deploymentId: 'd1', state: 'downloading' });
    const t0 = Date.now();
    await reporter.drain(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(reporter.pending()).toBe(1);
    setTimeout(() => reporter.ack([link.sent[0]!.doc.idempotencyKey as string]), 50);
    await reporter.drain(2_000);
    expect(reporter.pending()).toBe(0);
  });
});
