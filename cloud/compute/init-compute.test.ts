import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { isEdgekdError } from '../../shared/errors';
import { createLogger } from '../../shared/log/logger';
import { initCompute } from './init-compute';

const logger = createLogger('compute-test', 'silent');
const notInstalled = async (name: string): Promise<unknown> => {
  throw new Error(`Cannot find package '${name}' imported from here`);
};

describe('initCompute', () => {
  it('falls back to wasm when no native TensorFlow package is installed, and says why', async () => {
    const choice = await initCompute({ logger, env: {}, importOptional: notInstalled });
    expect(choice.backend).toBe('wasm');
    expect(choice.reason).toMatch(/tfjs-node-gpu: not installed; @tensorflow\/tfjs-node: not installed/);
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    expect(tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm')).toBeDefined();
  });

  it('is idempotent', async () => {
    const a = await initCompute({ logger, backend: 'wasm' });
    const b = await initCompute({ logger, backend: 'wasm' });
    expect(b).toEqual(a);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('honours EDGEKD_BACKEND and switches to the cpu reference and back', async () => {
    expect((await initCompute({ logger, env: { EDGEKD_BACKEND: 'cpu' } })).backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect((await initCompute({ logger, env: { EDGEKD_BACKEND: 'wasm' } })).backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('rejects an unknown backend name with EDGEKD_INVALID_ARGUMENT', async () => {
    const err = await initCompute({ logger, env: { EDGEKD_BACKEND: 'cuda' } }).catch((e: unknown) => e);
    expect(isEdgekdError(err, 'EDGEKD_INVALID_ARGUMENT')).toBe(true);
  });

  it('fails with EDGEKD_BACKEND_UNAVAILABLE when tensorflow is forced but not installed', async () => {
    const err = await initCompute({ logger, backend: 'tensorflow', importOptional: notInstalled }).catch((e: unknown) => e);
    expect(isEdgekdError(err, 'EDGEKD_BACKEND_UNAVAILABLE')).toBe(true);
    expect((err as Error).message).toMatch(/install @tensorflow\/tfjs-node/);
  });
});
