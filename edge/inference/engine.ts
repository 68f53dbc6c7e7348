/**
 * The seam between the agent and an inference runtime. Only `ort-engine.ts` imports
 * onnxruntime-node; everything else (the runtime holder, shadow evaluation, tests of pure logic)
 * sees these types.
 */
export type TensorDType = 'float32' | 'uint8' | 'int8';
export type TensorData = Float32Array | Uint8Array | Int8Array;

export interface Tensor {
  readonly dtype: TensorDType;
  readonly dims: readonly number[];
  readonly data: TensorData;
}

export interface ProviderFailure {
  readonly provider: string;
  readonly message: string;
}

export interface EngineSession {
  /** The execution provider that actually created this session. */
  readonly provider: string;
  /** Providers tried before it, with why each failed. */
  readonly fallbacks: readonly ProviderFailure[];
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, Tensor>, outputs?: readonly string[]): Promise<Record<string, Tensor>>;
  release(): Promise<void>;
}

export interface SessionOptions {
  /** Preference order, e.g. ["tensorrt", "cuda", "cpu"]; the first that creates a session wins. */
  readonly executionProviders: readonly string[];
  readonly intraOpThreads: number;
}

export interface InferenceEngine {
  readonly name: string;
  /** Version of the runtime library, reported in presence and checked against manifests. */
  readonly runtimeVersion: string;
  /** Throws EDGEKD_PROVIDER_UNAVAILABLE (listing every provider's failure) when none works. */
  createSession(modelPath: string, options: SessionOptions): Promise<EngineSession>;
}
