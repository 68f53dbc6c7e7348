import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isEdgekdError } from '../../shared/errors';
import { tinyMlpOnnx } from '../../shared/package/testing/tiny-models';
import { createOrtEngine } from './ort-engine';
import { createModelRuntime } from './model-runtime';

describe('onnxruntime engine: execution-provider preference with fallback', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-ort-'));
  const model = join(dir, 'm.onnx');
  writeFileSync(model, tinyMlpOnnx().bytes);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('falls back from tensorrt and cuda to cpu on a CPU-only build and says why', async () => {
    const s = await createOrtEngine().createSession(model, { executionProviders: ['tensorrt', 'cuda', 'cpu'], intraOpThreads: 1 });
    expect(s.provider).toBe('cpu');
    expect(s.fallbacks.map((f) => f.provider)).toEqual(['tensorrt', 'cuda']);
    expect(s.fallbacks.every((f) => f.message.length > 0)).toBe(true);
    const out = await s.run({ input: { dtype: 'float32', dims: [1, 4], data: new Float32Array(4) } });
    expect(out.probabilities!.dims).toEqual([1, 3]);
    await s.release();
  });

  it('reports EDGEKD_PROVIDER_UNAVAILABLE listing every failure when no provider works', async () => {
    try {
      await createOrtEngine().createSession(model, { executionProviders: ['tensorrt', 'cuda'], intraOpThreads: 1 });
      throw new Error('created');
    } catch (e) {
      expect(isEdgekdError(e, 'EDGEKD_PROVIDER_UNAVAILABLE')).toBe(true);
      expect((e as { details: { failures: unknown[] } }).details.failures).toHaveLength(2);
    }
  });

  it('tells the model runtime which provider it fell back to, so the agent can log it', async () => {
    const seen: Array<{ used: string; failed: string[] }> = [];
    const runtime = createModelRuntime({
      engine: createOrtEngine(),
      sessionOptions: { executionProviders: ['tensorrt', 'cpu'], intraOpThreads: 1 },
      onProviderFallback: (used, failures) => seen.push({ used, failed: failures.map((f) => f.provider) }),
    });
    const m = tinyMlpOnnx();
    const loaded = await runtime.load(model, { name: 'm', version: 1, model: { sha256: 'x' }, input: { name: m.inputName } } as never);
    expect(seen).toEqual([{ used: 'cpu', failed: ['tensorrt'] }]);
    await loaded.session.release();
  });
});
