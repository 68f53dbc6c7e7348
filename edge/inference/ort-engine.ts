import * as ort from 'onnxruntime-node';
import { EdgekdError } from '../../shared/errors';
import type { EngineSession, InferenceEngine, ProviderFailure, SessionOptions, Tensor } from './engine';

/**
 * The one module that owns onnxruntime-node. Execution providers are tried one at a time in the
 * configured order (the registry pattern of onnxruntime's own `resolveBackend`): a provider whose
 * shared library is missing (CUDA/TensorRT on a CPU-only build, e.g. the linux-arm64 npm binary)
 * fails at session creation and the next one is tried; every failure is kept and reported.
 */
const ORT_PROVIDER_NAMES: Record<string, string> = { cpu: 'cpu', cuda: 'cuda', tensorrt: 'tensorrt', dml: 'dml', coreml: 'coreml', webgpu: 'webgpu' };

export function createOrtEngine(): InferenceEngine {
  // Native provider-load failures are logged by onnxruntime itself at error level; we report them
  // as typed fallbacks instead, so only fatal native messages are printed.
  ort.env.logLevel = 'fatal';
  return {
    name: 'onnxruntime',
    runtimeVersion: ort.env.versions?.node ?? ort.env.versions?.common ?? '0.0.0',
    async createSession(modelPath: string, options: SessionOptions): Promise<EngineSession> {
      const failures: ProviderFailure[] = [];
      for (const provider of options.executionProviders) {
        const ep = ORT_PROVIDER_NAMES[provider];
        if (!ep) {
          failures.push({ provider, message: 'unknown execution provider name' });
          continue;
        }
        try {
          const session = await ort.InferenceSession.create(modelPath, {
            executionProviders: [ep],
            intraOpNumThreads: options.intraOpThreads,
            interOpNumThreads: 1,
            graphOptimizationLevel: 'all',
            logSeverityLevel: 3,
          });
          return wrap(session, provider, failures);
        } catch (e) {
          failures.push({ provider, message: (e as Error).message });
        }
      }
      throw new EdgekdError(
        'EDGEKD_PROVIDER_UNAVAILABLE',
        `no execution provider could load ${modelPath}: ${failures.map((f) => `${f.provider}: ${f.message}`).join('; ')}`,
        { details: { failures } },
      );
    },
  };
}

function wrap(session: ort.InferenceSession, provider: string, fallbacks: ProviderFailure[]): EngineSession {
  return {
    provider,
    fallbacks,
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds, outputs) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.dtype, t.data, [...t.dims]);
      let result: ort.InferenceSession.OnnxValueMapType;
      try {
        result = outputs ? await session.run(ortFeeds, [...outputs]) : await session.run(ortFeeds);
      } catch (e) {
        throw new EdgekdError('EDGEKD_INFERENCE_FAILED', `onnxruntime run failed: ${(e as Error).message}`, { cause: e });
      }
      const out: Record<string, Tensor> = {};
      for (const [name, v] of Object.entries(result)) {
        const t = v as ort.Tensor;
        out[name] = { dtype: t.type as Tensor['dtype'], dims: t.dims, data: t.data as Tensor['data'] };
      }
      return out;
    },
    async release() {
      await session.release();
    },
  };
}
