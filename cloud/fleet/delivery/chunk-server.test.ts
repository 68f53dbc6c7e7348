import { describe, expect, it } from 'vitest';
import type { ChunkRequest, ChunkResponse } from '../../../shared/protocol/messages/chunk';
import { planChunks } from './chunk-plan';
import { createChunkServer, type ChunkRefusal, type ChunkSource } from './chunk-server';
import { TokenBucket } from './token-bucket';

const bytes = new Uint8Array(10_000).map((_, i) => i % 251);
const plan = planChunks(bytes, 4096);
const req = (deploymentId: string, index: number, sha256 = plan.sha256): ChunkRequest => ({ schema: 'edgekd.chunk-request/1', requestId: `${deploymentId}-${index}-${Math.random()}`, deploymentId, sha256, index });

function server(o: { maxConcurrentDownloads?: number; bucket?: TokenBucket; lookup?: (d: string) => ChunkSource | ChunkRefusal } = {}) {
  let t = 1_000;
  const replies: Array<{ deviceId: string; r: ChunkResponse }> = [];
  const s = createChunkServer({
    now: () => t,
    lookup: (d) => o.lookup?.(d) ?? { plan, bytes, bucket: o.bucket ?? null },
    reply: (deviceId, r) => replies.push({ deviceId, r }),
    onParkedError: () => undefined,
    ...(o.maxConcurrentDownloads ? { maxConcurrentDownloads: o.maxConcurrentDownloads } : {}),
    chunkResendAfterMs: 500,
  });
  return { s, replies, advance: (ms: number) => (t += ms) };
}

describe('chunk server', () => {
  it('answers a chunk with its bytes, offset and hash', () => {
    const { s, replies } = server();
    s.request('dev-1', req('r1:dev-1', 2));
    expect(replies).toHaveLength(1);
    const { header, data } = replies[0]!.r;
    expect(header).toMatchObject({ index: 2, offset: 8192, chunkSha256: plan.chunkSha256[2] });
    expect([...data]).toEqual([...bytes.subarray(8192)]);
    expect(s.counters()).toMatchObject({ chunksServed: 1, chunkBytesServed: 10_000 - 8192 });
  });

  it('refuses a wrong file hash, an index past the end and what the lookup refuses, with typed codes', () => {
    const { s, replies } = server({ lookup: (d) => (d === 'gone' ? { code: 'EDGEKD_NOT_FOUND', message: 'no deployment' } : { plan, bytes, bucket: null }) });
    s.request('dev-1', req('r1:dev-1', 0, 'a'.repeat(64)));
    s.request('dev-1', req('r1:dev-1', 3));
    s.request('gone', req('r1:gone', 0));
    expect(replies.map((x) => x.r.header.error?.code)).toEqual(['EDGEKD_NOT_FOUND', 'EDGEKD_INVALID_ARGUMENT', 'EDGEKD_NOT_FOUND']);
    expect(replies.every((x) => x.r.data.length === 0)).toBe(true);
  });

  it('does not resend a chunk within the resend window, and does after it', () => {
    const { s, replies, advance } = server();
    s.request('dev-1', req('r1:dev-1', 0));
    s.request('dev-1', req('r1:dev-1', 0));
    expect(replies).toHaveLength(1);
    expect(s.counters().chunkRequestsSuppressed).toBe(1);
    advance(600);
    s.request('dev-1', req('r1:dev-1', 0));
    expect(replies).toHaveLength(2);
  });

  it('parks the requests of a deployment over the download limit and serves them when a slot frees', () => {
    const { s, replies } = server({ maxConcurrentDownloads: 1 });
    s.request('dev-1', req('r1:dev-1', 0));
    s.request('dev-2', req('r1:dev-2', 0));
    expect(replies.map((x) => x.deviceId)).toEqual(['dev-1']);
    expect(s.counters().chunkRequestsQueued).toBe(1);
    s.release('r1:dev-1');
    expect(replies.map((x) => x.deviceId)).toEqual(['dev-1', 'dev-2']);
  });

  it('tells the device when to ask again once the rollout bandwidth cap is spent', () => {
    const { s, replies } = server({ bucket: new TokenBucket(4096, 4096, 1_000) });
    s.request('dev-1', req('r1:dev-1', 0));
    s.request('dev-1', req('r1:dev-1', 1));
    expect(replies[1]!.r.header.error?.code).toBe('EDGEKD_RATE_LIMITED');
    expect(replies[1]!.r.header.retryAfterMs).toBeGreaterThan(0);
    expect(s.counters().chunkRequestsDeferred).toBe(1);
  });
});
