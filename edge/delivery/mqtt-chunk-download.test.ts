import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ChunkRequest, ChunkResponse, Delivery } from '../../shared/protocol';
import { downloadOverMqtt, type ChunkTransport } from './mqtt-chunk-download';

const file = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) % 256));
const chunkBytes = 1024;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const delivery: Delivery = { sizeBytes: file.length, sha256: sha(file), chunkBytes, chunkSha256: [] };
for (let i = 0; i < file.length; i += chunkBytes) delivery.chunkSha256.push(sha(file.subarray(i, i + chunkBytes)));

/** An in-memory cloud: answers requests in reverse order of arrival per tick, optionally corrupting. */
function transport(opts: { corruptFirst?: Set<number>; dropFirst?: Set<number> }): ChunkTransport & { requests: ChunkRequest[] } {
  const handlers = new Set<(r: ChunkResponse) => void>();
  const requests: ChunkRequest[] = [];
  let queue: ChunkRequest[] = [];
  const flush = (): void => {
    const batch = queue.reverse();
    queue = [];
    for (const req of batch) {
      if (opts.dropFirst?.delete(req.index)) continue;
      let data: Uint8Array = file.subarray(req.index * chunkBytes, (req.index + 1) * chunkBytes);
      if (opts.corruptFirst?.delete(req.index)) data = Uint8Array.from(data, (b) => b ^ 1);
      for (const h of handlers) h({ header: { schema: 'edgekd.chunk/1', requestId: req.requestId, deploymentId: req.deploymentId, sha256: req.sha256, index: req.index, offset: req.index * chunkBytes }, data });
    }
  };
  return {
    requests,
    request(req) {
      requests.push(req);
      if (queue.length === 0) setTimeout(flush, 1);
      queue.push(req);
    },
    onResponse(h) {
      handlers.add(h);
      return () => handlers.delete(h);
    },
  };
}

describe('chunked download over MQTT', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-chunks-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const opts = (t: ChunkTransport, part: string) => ({
    deploymentId: 'd', delivery, partPath: part, transport: t, windowChunks: 3, chunkTimeoutMs: 80, maxChunkAttempts: 3, fsyncEveryChunks: 2, newRequestId: () => `q${++n}`,
  });

  it('writes chunks in order although they arrive out of order, never more than the window in flight', async () => {
    const t = transport({});
    const part = join(dir, 'a.part');
    await downloadOverMqtt(opts(t, part));
    expect(readFileSync(part).equals(file)).toBe(true);
    expect(t.requests.map((r) => r.index)).toEqual([0, 1, 2, 3, 4]);
  });

  it('re-requests a chunk that failed its hash or got no answer', async () => {
    const t = transport({ corruptFirst: new Set([1]), dropFirst: new Set([3]) });
    const part = join(dir, 'b.part');
    await downloadOverMqtt(opts(t, part));
    expect(readFileSync(part).equals(file)).toBe(true);
    expect(t.requests.filter((r) => r.index === 1)).toHaveLength(2);
    expect(t.requests.filter((r) => r.index === 3)).toHaveLength(2);
  });

  it('gives up on a chunk that keeps failing its hash with EDGEKD_CHUNK_INVALID', async () => {
    const part = join(dir, 'c.part');
    const corrupting = transport({});
    const evil: ChunkTransport = {
      request: corrupting.request,
      onResponse: (h) => corrupting.onResponse((r) => h(r.header.index === 2 ? { ...r, data: Uint8Array.from(r.data, (b) => b ^ 1) } : r)),
    };
    await expect(downloadOverMqtt(opts(evil, part))).rejects.toMatchObject({ code: 'EDGEKD_CHUNK_INVALID' });
    expect(readFileSync(part).length).toBe(2 * chunkBytes);
  });

  it('asks again for an unanswered chunk after the timeout, then after growing jittered waits', async () => {
    // Chunk 0 goes unanswered 4 times. The clock is injected: each re-request time is read from it.
    let clock = 0;
    const sentAt: number[] = [];
    const t = transport({});
    let drops = 4;
    const silent: ChunkTransport = {
      request(req) {
        if (req.index === 0) {
          sentAt.push(clock);
          if (drops-- > 0) return;
        }
        t.request(req);
      },
      onResponse: t.onResponse,
    };
    const ticker = setInterval(() => (clock += 5), 1);
    try {
      await downloadOverMqtt({ ...opts(silent, join(dir, 'd.part')), chunkTimeoutMs: 20, retryCapMs: 1_000, random: () => 0.999, now: () => clock });
    } finally {
      clearInterval(ticker);
    }
    const gaps = sentAt.slice(1).map((v, i) => v - sentAt[i]!);
    // waits: 20, 20 + ~20, 20 + ~40, 20 + ~80 (random() ≈ 1: the top of each full-jitter window)
    expect(gaps).toHaveLength(4);
    for (const [i, want] of [20, 39, 59, 99].entries()) expect(gaps[i]).toBeGreaterThanOrEqual(want);
    expect(gaps[3]!).toBeGreaterThan(gaps[1]!);
  });
});
