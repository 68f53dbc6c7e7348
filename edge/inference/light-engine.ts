import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { EdgekdError } from '../../shared/errors';
import type { EngineSession, InferenceEngine, SessionOptions, Tensor } from './engine';

/**
 * A deliberately small engine for fleet-scale protocol simulation only (`fleet simulate
 * --engine light`), where thousands of agents share two cores and running onnxruntime in each
 * would measure onnxruntime, not the rollout. It reads the model file (so staging and slot
 * switching are real), and answers with a softmax over a hash of the input and the model bytes:
 * deterministic, shaped like a classifier's output, and meaningless. It is never the default and
 * the agent reports `executionProvider: "light"` so nobody mistakes its numbers for real ones.
 */
export function createLightEngine(opts: { classes?: number; outputName?: string } = {}): InferenceEngine {
  const classes = opts.classes ?? 3;
  const outputName = opts.outputName ?? 'probabilities';
  return {
    name: 'light',
    runtimeVersion: '1.30.0',
    async createSession(modelPath: string, _options: SessionOptions): Promise<EngineSession> {
      const bytes = await readFile(modelPath).catch((e: unknown) => {
        throw new EdgekdError('EDGEKD_MODEL_LOAD_FAILED', `cannot read ${modelPath}: ${(e as Error).message}`, { cause: e });
      });
      const modelSeed = createHash('sha256').update(bytes).digest().readUInt32LE(0);
      return {
        provider: 'light',
        fallbacks: [],
        inputNames: ['input'],
        outputNames: [outputName],
        async run(feeds): Promise<Record<string, Tensor>> {
          const input = Object.values(feeds)[0];
          const batch = input?.dims[0] ?? 1;
          const per = input ? input.data.length / batch : 0;
          const out = new Float32Array(batch * classes);
          for (let b = 0; b < batch; b++) {
            let h = modelSeed;
            for (let i = 0; i < per; i += Math.max(1, Math.floor(per / 64))) h = (Math.imul(h ^ Math.round(Number(input!.data[b * per + i]) * 1000), 16777619) >>> 0);
            let sum = 0;
            for (let c = 0; c < classes; c++) {
              const v = Math.exp(((h >>> (c * 3)) & 0xff) / 64);
              out[b * classes + c] = v;
              sum += v;
            }
            for (let c = 0; c < classes; c++) out[b * classes + c]! /= sum;
          }
          return { [outputName]: { dtype: 'float32', dims: [batch, classes], data: out } };
        },
        async release() {},
      };
    },
  };
}
