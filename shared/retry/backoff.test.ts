import { describe, expect, it } from 'vitest';
import { createBackoff, fullJitterDelayMs } from './backoff';

describe('exponential backoff with full jitter', () => {
  const policy = { baseMs: 100, capMs: 1_000 };

  it('draws each wait uniformly from a window that doubles up to the cap', () => {
    expect([0, 1, 2, 3, 4, 10].map((n) => fullJitterDelayMs(n, policy, () => 0.999999))).toEqual([99, 199, 399, 799, 999, 999]);
    expect(fullJitterDelayMs(3, policy, () => 0)).toBe(0);
    expect(fullJitterDelayMs(2, policy, () => 0.5)).toBe(200);
  });

  it('makes the first attempt after a reset immediate, then backs off, and starts over after a success', () => {
    const b = createBackoff(policy, () => 0.5);
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([0, 50, 100, 200, 400, 500]);
    b.reset();
    expect(b.next()).toBe(0);
    expect(b.attempts).toBe(1);
  });

  it('spreads a fleet: 1,000 clients retrying at once do not land in the same window slot', () => {
    let seed = 42;
    const random = (): number => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const waits = Array.from({ length: 1_000 }, () => fullJitterDelayMs(4, policy, random));
    const perSlot = new Map<number, number>();
    for (const w of waits) perSlot.set(Math.floor(w / 100), (perSlot.get(Math.floor(w / 100)) ?? 0) + 1);
    expect(Math.max(...perSlot.values())).toBeLessThan(200); // 10 slots of 100 ms, ~100 each
    expect(Math.max(...waits)).toBeLessThan(1_000);
  });

  it('refuses a policy it cannot follow', () => {
    expect(() => createBackoff({ baseMs: 0, capMs: 10 })).toThrow(RangeError);
    expect(() => createBackoff({ baseMs: 100, capMs: 10 })).toThrow(RangeError);
  });
});
