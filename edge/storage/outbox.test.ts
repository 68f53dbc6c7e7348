import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openOutbox } from './outbox';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'edgekd-outbox-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

let n = 0;
const key = (): string => `k${++n}`;

describe('outbox', () => {
  it('keeps unacked reports across a reopen with the same seq and key', () => {
    const dir = tempDir();
    const a = openOutbox(dir, key);
    const e1 = a.append('status', (seq, k) => ({ seq, k, state: 'downloading' }));
    const e2 = a.append('status', (seq, k) => ({ seq, k, state: 'verifying' }));
    a.markSent([e1.seq], 1000);
    a.close();
    const b = openOutbox(dir, key);
    const pending = b.pending(10);
    expect(pending.map((p) => [p.seq, p.key])).toEqual([[e1.seq, e1.key], [e2.seq, e2.key]]);
    expect(JSON.parse(pending[0]!.payload)).toEqual({ seq: e1.seq, k: e1.key, state: 'downloading' });
    // Sent or not, every unacked report is due again after a reopen (a reconnect resends them all).
    expect(pending.every((p) => p.sentAtMs === null)).toBe(true);
    b.close();
  });

  it('deletes acked reports once and never reuses a sequence number', () => {
    const dir = tempDir();
    const a = openOutbox(dir, key);
    const e1 = a.append('status', (seq) => ({ seq }));
    expect(a.ack([e1.key])).toBe(1);
    expect(a.ack([e1.key])).toBe(0);
    a.close();
    const b = openOutbox(dir, key);
    const e2 = b.append('drift', (seq) => ({ seq }));
    expect(e2.seq).toBeGreaterThan(e1.seq);
    expect(b.count()).toBe(1);
    b.close();
  });

  it('hands out for sending only reports whose WAL frames are fsynced', async () => {
    const o = openOutbox(tempDir(), key);
    const e1 = o.append('status', () => ({ n: 1 }));
    const upTo = await o.durable();
    expect(upTo).toBe(e1.seq);
    const e2 = o.append('status', () => ({ n: 2 }));
    expect(o.pending(10, { maxSeq: upTo }).map((e) => e.seq)).toEqual([e1.seq]);
    const [a, b] = await Promise.all([o.durable(), o.durable()]);
    expect([a, b]).toEqual([e2.seq, e2.seq]);
    expect(o.pending(10, { maxSeq: a }).map((e) => e.seq)).toEqual([e1.seq, e2.seq]);
    o.close();
  });

  it('deletes acked rows at once, never an unacked one', () => {
    const dir = tempDir();
    const a = openOutbox(dir, key);
    const e1 = a.append('status', () => ({ n: 1 }));
    expect(a.ack([e1.key])).toBe(1);
    const e2 = a.append('status', () => ({ n: 2 }));
    const e3 = a.append('status', () => ({ n: 3 }));
    expect(a.ack([e3.key])).toBe(1);
    a.close();
    const b = openOutbox(dir, key);
    expect(b.pending(10).map((e) => e.seq)).toEqual([e2.seq]);
    b.close();
  });

  it('selects for resend only reports never sent or sent before the cutoff', () => {
    const o = openOutbox(tempDir(), key);
    const e1 = o.append('status', () => ({}));
    const e2 = o.append('status', () => ({}));
    const e3 = o.append('status', () => ({}));
    o.markSent([e1.seq], 100);
    o.markSent([e2.seq], 900);
    expect(o.pending(10, { sentBeforeMs: 500 }).map((e) => e.seq)).toEqual([e1.seq, e3.seq]);
    expect(o.pending(10, { afterSeq: e1.seq }).map((e) => e.seq)).toEqual([e2.seq, e3.seq]);
    o.close();
  });

  it('treats a second close as a no-op', () => {
    const o = openOutbox(tempDir(), key);
    o.close();
    expect(() => o.close()).not.toThrow();
  });
});
