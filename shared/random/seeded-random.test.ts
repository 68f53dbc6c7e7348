import { describe, expect, it } from 'vitest';
import { createRandom } from './seeded-random';

// The sequences below are what the generators this module replaced produced (the data loaders',
// the drift simulations' and the distillation run's, which shared one mulberry32 core): a change
// here changes seeded results in BENCHMARKS.md, so it must be deliberate.
describe('createRandom (mulberry32)', () => {
  it('draws the pinned uniform sequence for a seed', () => {
    const r = createRandom(42);
    expect([r.next(), r.next(), r.next(), r.next()]).toEqual([0.6011037519201636, 0.44829055899754167, 0.8524657934904099, 0.6697340414393693]);
    const z = createRandom(0);
    expect([z.next(), z.next()]).toEqual([0.26642920868471265, 0.0003297457005828619]);
  });

  it('draws the pinned normals, integers and sub-stream seed, and ends in the pinned state', () => {
    const r = createRandom(7);
    expect([r.normal(), r.normal(), r.normal()]).toEqual([2.759372987028844, -0.06805135650735404, -0.9459489604452885]);
    expect([r.int(10), r.int(10), r.int(1000), r.int(3)]).toEqual([4, 2, 553, 2]);
    expect(r.seed()).toBe(553654701);
    expect(r.state).toBe(2967354766);
  });

  it('resumes from a stored state exactly where the stream was', () => {
    const a = createRandom(123);
    a.normals(5);
    const saved = a.state;
    const expected = [a.next(), a.int(50), a.normal()];
    const b = createRandom(999);
    b.state = saved;
    expect([b.next(), b.int(50), b.normal()]).toEqual(expected);
  });

  it('keeps int(n) inside [0, n) even for large n', () => {
    const r = createRandom(1);
    for (let i = 0; i < 1000; i++) {
      const v = r.int(2 ** 31);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(2 ** 31);
    }
  });
});
