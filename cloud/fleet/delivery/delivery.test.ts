import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket';
import { planChunks } from './chunk-plan';
import { checkDownloadToken, issueDownloadToken } from './download-token';
import { parseRange } from './parse-range';
import { DownloadAdmission } from './download-admission';

describe('token bucket', () => {
  it('lets a burst through, then asks to wait in proportion to the rate', () => {
    const b = new TokenBucket(1000, 1000, 0);
    expect(b.take(600, 0)).toBe(0);
    expect(b.take(600, 0)).toBe(200); // 200 tokens short at 1000/s
    expect(b.take(600, 200)).toBe(0);
  });
  it('never starves a request larger than the burst', () => {
    const b = new TokenBucket(100, 100, 0);
    expect(b.take(500, 0)).toBe(0);
    expect(b.take(1, 0)).toBeGreaterThan(0);
  });
  it('is unlimited at rate 0', () => {
    expect(new TokenBucket(0, 0, 0).take(1e9, 0)).toBe(0);
  });
});

describe('chunk plan', () => {
  it('hashes each chunk and the whole file; the last chunk is shorter', () => {
    const bytes = new Uint8Array(10_000).map((_, i) => i & 0xff);
    const p = planChunks(bytes, 4096);
    expect(p.chunkSha256).toHaveLength(3);
    expect(p.sizeBytes).toBe(10_000);
  });
  it('grows chunks so a large file stays within the hash-list limit', () => {
    const p = planChunks(new Uint8Array(40_000_000), 1024);
    expect(p.chunkSha256.length).toBeLessThanOrEqual(16_000);
  });
});

describe('download token', () => {
  const secret = Buffer.alloc(32, 7);
  it('round-trips before expiry and fails after, or when altered', () => {
    const t = issueDownloadToken(secret, 'ro-1:cam-1', 1_000);
    expect(checkDownloadToken(secret, t, 999)).toEqual({ ok: true, deploymentId: 'ro-1:cam-1' });
    expect(checkDownloadToken(secret, t, 1_000).ok).toBe(false);
    expect(checkDownloadToken(secret, t.replace(/^./, 'x'), 0).ok).toBe(false);
    expect(checkDownloadToken(Buffer.alloc(32, 8), t, 0).ok).toBe(false);
  });
});

describe('Range header', () => {
  it.each([
    [undefined, null],
    ['bytes=0-99', { start: 0, end: 99 }],
    ['bytes=100-', { start: 100, end: 999 }],
    ['bytes=-10', { start: 990, end: 999 }],
    ['bytes=2000-', 'unsatisfiable'],
    ['bytes=0-1,5-6', null],
  ])('%s → %j', (h, want) => {
    expect(parseRange(h, 1000)).toEqual(want);
  });
});

describe('download admission', () => {
  it('parks requests over the limit in arrival order and hands them out as slots free', () => {
    const a = new DownloadAdmission<string>(2);
    expect(a.admit('d1', 0, 'd1/0', 0)).toBe(true);
    expect(a.admit('d2', 0, 'd2/0', 0)).toBe(true);
    expect(a.admit('d1', 1, 'd1/1', 0)).toBe(true); // a holder keeps its slot
    expect(a.admit('d3', 0, 'd3/0#1', 0)).toBe(false);
    expect(a.admit('d3', 0, 'd3/0#2', 0)).toBe(false); // a re-request replaces the parked one
    expect(a.admit('d4', 0, 'd4/0', 0)).toBe(false);
    expect(a.queued).toBe(2);
    expect(a.release('d1', 10)).toEqual(['d3/0#2']);
    expect(a.admit('d3', 0, 'd3/0#2', 10)).toBe(true);
    expect(a.release('d4', 10)).toEqual([]); // leaving the queue frees nothing
    expect(a.queued).toBe(0);
  });

  it('frees the slots of idle holders when asked', () => {
    const a = new DownloadAdmission<string>(1);
    a.admit('d1', 0, 'x', 0);
    expect(a.admit('d2', 0, 'd2/0', 100)).toBe(false);
    a.touch('d1', 2_000);
    expect(a.expireIdle(4_000, 3_000)).toEqual([]);
    expect(a.expireIdle(5_001, 3_000)).toEqual(['d2/0']);
    expect(a.downloading).toBe(1);
  });
});

describe('download admission byte budget', () => {
  it('admits while the packages held fit the budget, and always one', () => {
    const a = new DownloadAdmission<string>(10, 1_000);
    expect(a.admit('big', 0, 'big/0', 0, 5_000)).toBe(true); // alone: admitted though over budget
    expect(a.admit('s1', 0, 's1/0', 0, 400)).toBe(false);
    expect(a.release('big', 1)).toEqual(['s1/0']);
    expect(a.admit('s2', 0, 's2/0', 1, 400)).toBe(true);
    expect(a.admit('s3', 0, 's3/0', 1, 400)).toBe(false); // 800 + 400 > 1,000
    expect(a.downloading).toBe(2);
  });
});
