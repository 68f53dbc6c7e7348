import { describe, expect, it } from 'vitest';
import { bufferCapacity, resolveConfig, synthesisRounds, type DistillConfigInput } from './config';

const schedule: DistillConfigInput = { epochs: 30, warmupEpochs: 2, kdStepsPerEpoch: 40, trainSetSize: 55_000, budget: 0.1, synthesis: { batchSize: 32 } };
const samples = (m: Parameters<typeof resolveConfig>[0]) => {
  const c = resolveConfig(m, schedule);
  return { generated: synthesisRounds(c) * c.synthesis.batchSize, capacity: bufferCapacity(c), steps: (c.epochs - c.warmupEpochs) * c.kdStepsPerEpoch, cfg: c };
};

describe('equal-work controls', () => {
  it('fast-budget-eq generates as many samples as ssdkd into the same buffer size, on the same student steps', () => {
    const a = samples('ssdkd');
    const b = samples('fast-budget-eq');
    expect(b.generated).toBe(a.generated);
    expect(b.capacity).toBe(a.capacity);
    expect(b.steps).toBe(a.steps);
    // and it is the plain control: FIFO refresh, uniform sampling, no φ
    expect(b.cfg.buffer).toMatchObject({ evict: true, prioritized: false, ordered: false, balanced: false });
    expect(b.cfg.modulation).toMatchObject({ inSynthesis: false, inInsertion: false, inKd: false, balancedTargets: false });
    // fast-budget fills its buffer once: half the samples
    expect(samples('fast-budget').generated * 2).toBe(a.generated);
  });

  it('fast keeps the equal-time schedule; fast-own replays its bank as often as a buffer slot is replayed', () => {
    const ss = samples('ssdkd');
    const fast = samples('fast');
    const own = samples('fast-own');
    expect(fast.steps).toBe(ss.steps);
    expect(own.generated).toBe(fast.generated);
    expect(own.steps).toBe(ss.steps * 10);
    expect(own.steps / own.capacity).toBeCloseTo(ss.steps / ss.capacity, 1);
  });

  it('ablates each part of φ and δ on its own', () => {
    const base = resolveConfig('ssdkd', schedule);
    expect(resolveConfig('ssdkd-no-diversity', schedule)).toEqual({ ...base, modulation: { ...base.modulation, diversity: false } });
    expect(resolveConfig('ssdkd-no-difficulty', schedule)).toEqual({ ...base, modulation: { ...base.modulation, difficulty: false } });
    expect(resolveConfig('ssdkd-priority-gen', schedule)).toEqual({ ...base, buffer: { ...base.buffer, priorityInGenerator: true } });
    expect(base.buffer.priorityInGenerator).toBe(false);
  });
});
