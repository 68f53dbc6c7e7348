import { describe, expect, it } from 'vitest';
import type { EngineSession, InferenceEngine } from './engine';
import { createModelRuntime } from './model-runtime';

/** A fake session whose probabilities put the mass on `pick(x)` for an input [x]. */
function session(classes: number, pick: (x: number) => number): EngineSession {
  return {
    provider: 'cpu',
    fallbacks: [],
    async run(feed: Record<string, { data: ArrayLike<number> }>) {
      const x = Number(feed.input!.data[0]);
      const p = new Float32Array(classes).fill(0.1 / (classes - 1));
      p[pick(x) % classes] = 0.9;
      return { probabilities: { dtype: 'float32', dims: [1, classes], data: p } };
    },
    async release() {},
  } as unknown as EngineSession;
}

const manifest = (classes: number) => ({ name: 'm', version: 1, model: { sha256: String(classes) }, input: { name: 'input', dtype: 'float32', shape: [1, 1], layout: 'NHWC', normalisation: { scale: [1], offset: [0] } }, outputs: [{ name: 'probabilities', kind: 'probabilities', shape: [1, classes] }] }) as never;

describe('shadow evaluation class histograms', () => {
  it('counts each model\'s top-1 answers over the shadow inputs', async () => {
    const sessions: Record<string, EngineSession> = { a: session(3, () => 0), b: session(3, (x) => x) };
    const engine = { createSession: async (path: string) => sessions[path]! } as unknown as InferenceEngine;
    const rt = createModelRuntime({ engine, sessionOptions: { executionProviders: ['cpu'], intraOpThreads: 1 } });
    rt.setActive(await rt.load('a', manifest(3)));
    const candidate = await rt.load('b', manifest(3));
    const done = rt.shadow(candidate, 6, 5_000);
    for (const x of [0, 1, 2, 2, 1, 2]) await rt.infer({ dtype: 'float32', shape: [1, 1], data: [x] });
    const m = await done;
    expect(m.inferences).toBe(6);
    expect(m.agreement).toBeCloseTo(1 / 6, 12);
    expect(m.classCounts).toEqual({ active: [6, 0, 0], candidate: [1, 2, 3] });
  });
  it('reports no class counts when the two heads differ in width', async () => {
    const sessions: Record<string, EngineSession> = { a: session(3, () => 0), b: session(4, () => 1) };
    const engine = { createSession: async (path: string) => sessions[path]! } as unknown as InferenceEngine;
    const rt = createModelRuntime({ engine, sessionOptions: { executionProviders: ['cpu'], intraOpThreads: 1 } });
    rt.setActive(await rt.load('a', manifest(3)));
    const done = rt.shadow(await rt.load('b', manifest(4)), 2, 5_000);
    for (const x of [0, 1]) await rt.infer({ dtype: 'float32', shape: [1, 1], data: [x] });
    const m = await done;
    expect(m.inferences).toBe(2);
    expect(m.classCounts).toBeUndefined();
  });
});
