import { Type, type Static } from 'typebox';
import { createParser } from '../contracts/parse';
import { DriftReference } from '../drift/reference';

/**
 * The model manifest: everything an edge agent needs to know about one `.onnx` file, signed
 * together with the file's sha256 (see `sign-manifest.ts`). Objects are open (unknown members
 * are allowed and covered by the signature) so newer producers can add fields that older agents
 * ignore; every field listed here is checked.
 */

export const Sha256Hex = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'lower-case hex sha256' });
export type Sha256Hex = Static<typeof Sha256Hex>;

/** A dimension: a positive size, or a symbolic name (ONNX dim_param) such as "N" for the batch. */
export const TensorDim = Type.Union([Type.Integer({ minimum: 1 }), Type.String({ minLength: 1, maxLength: 32 })]);
export type TensorDim = Static<typeof TensorDim>;

/**
 * How raw input values become the model input: `model[c] = raw[c] * scale[c] + offset[c]`,
 * per channel (one entry applies to every channel). `rawRange` says what raw values are
 * (for example [0, 255] pixel intensities, or [0, 1] when the caller already divided).
 */
export const InputNormalisation = Type.Object({
  rawRange: Type.Tuple([Type.Number(), Type.Number()]),
  scale: Type.Array(Type.Number(), { minItems: 1 }),
  offset: Type.Array(Type.Number(), { minItems: 1 }),
});
export type InputNormalisation = Static<typeof InputNormalisation>;

export const ModelInput = Type.Object({
  name: Type.String({ minLength: 1 }),
  /** Shape in the declared layout, batch first, e.g. ["N", 28, 28, 1] for NHWC. */
  shape: Type.Array(TensorDim, { minItems: 1, maxItems: 8 }),
  layout: Type.Union([Type.Literal('NHWC'), Type.Literal('NCHW'), Type.Literal('NC')]),
  dtype: Type.Union([Type.Literal('float32'), Type.Literal('uint8'), Type.Literal('int8')]),
  normalisation: InputNormalisation,
});
export type ModelInput = Static<typeof ModelInput>;

export const ModelOutput = Type.Object({
  name: Type.String({ minLength: 1 }),
  shape: Type.Optional(Type.Array(TensorDim, { maxItems: 8 })),
  /** probabilities (softmax), logits, or an auxiliary output such as feature statistics for drift. */
  kind: Type.Union([Type.Literal('probabilities'), Type.Literal('logits'), Type.Literal('feature')]),
  description: Type.Optional(Type.String()),
});
export type ModelOutput = Static<typeof ModelOutput>;

export const RuntimeRequirements = Type.Object({
  /** ai.onnx opset the graph imports (13+ is needed for per-channel QDQ). */
  opset: Type.Integer({ minimum: 7 }),
  irVersion: Type.Integer({ minimum: 3 }),
  /** Lowest onnxruntime version known to load the file, "major.minor.patch". */
  minOnnxruntime: Type.String({ pattern: '^\\d+\\.\\d+\\.\\d+$' }),
  /** Execution providers in preference order ("cpu", "tensorrt", "cuda", …); a hint, not a requirement. */
  executionProviders: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
});
export type RuntimeRequirements = Static<typeof RuntimeRequirements>;

export const CalibrationMethod = Type.Union([Type.Literal('minmax'), Type.Literal('percentile'), Type.Literal('entropy')]);
export type CalibrationMethod = Static<typeof CalibrationMethod>;

export const QuantizationInfo = Type.Object({
  precision: Type.Union([Type.Literal('fp32'), Type.Literal('int8')]),
  /** Which runtime the int8 graph was shaped for; absent for fp32. */
  target: Type.Optional(Type.Union([Type.Literal('cpu'), Type.Literal('tensorrt')])),
  format: Type.Optional(Type.Literal('qdq')),
  weights: Type.Optional(
    Type.Object({
      dtype: Type.Literal('int8'),
      scheme: Type.Literal('per-channel-symmetric'),
      axis: Type.Integer(),
      /** 7 (values in [−63, 63], for x86 CPUs without VNNI) or 8; absent in packages that predate the choice (7 on cpu, 8 on tensorrt). */
      bits: Type.Optional(Type.Union([Type.Literal(7), Type.Literal(8)])),
      /** The CPU class the bit width was chosen for (`x86-vnni`, `x86-avx2`, `arm64`, `gpu`). */
      chosenFor: Type.Optional(Type.String({ minLength: 1 })),
    }),
  ),
  /** Set on an fp32 package whose int8 export was declined because int8 would have been slower. */
  int8Declined: Type.Optional(Type.Object({ rule: Type.String({ minLength: 1 }), int8MacShare: Type.Number({ minimum: 0, maximum: 1 }), reason: Type.String({ minLength: 1 }) })),
  /**
   * The export-time latency check (`cloud/export/int8-latency-check.ts`): fp32 and int8 p50 measured
   * in onnxruntime-node on the exporting machine; int8 shipped only when not slower at every batch.
   */
  latencyCheck: Type.Optional(
    Type.Object({
      method: Type.Literal('measure'),
      tolerance: Type.Number({ minimum: 0 }),
      batches: Type.Array(Type.Object({ batch: Type.Integer({ minimum: 1 }), fp32P50Ms: Type.Number({ minimum: 0 }), int8P50Ms: Type.Number({ minimum: 0 }) }), { minItems: 1 }),
    }),
  ),
  /** Layers the quantizer's per-layer opt-out kept in float, with the rule that chose them. */
  floatLayers: Type.Optional(
    Type.Object({
      rule: Type.String({ minLength: 1 }),
      nodes: Type.Array(Type.Object({ node: Type.String({ minLength: 1 }), reason: Type.String({ minLength: 1 }) })),
    }),
  ),
  activations: Type.Optional(
    Type.Object({ dtype: Type.Union([Type.Literal('uint8'), Type.Literal('int8')]), symmetric: Type.Boolean(), granularity: Type.Literal('per-tensor') }),
  ),
  bias: Type.Optional(Type.Literal('int32')),
  calibration: Type.Optional(
    Type.Object({
      method: CalibrationMethod,
      samples: Type.Integer({ minimum: 1 }),
      /** Always "synthetic" for a shipped package: real images never reach calibration. */
      source: Type.Literal('synthetic'),
      percentile: Type.Optional(Type.Number()),
    }),
  ),
});
export type QuantizationInfo = Static<typeof QuantizationInfo>;

/**
 * Reference statistics for label-free drift detection, computed at export time. The schema is
 * owned by the drift detectors (`shared/drift/reference.ts`) and only grows.
 */
export { DriftReference };

export const PackageRef = Type.Object({ name: Type.String(), version: Type.Integer({ minimum: 1 }), sha256: Sha256Hex });
export type PackageRef = Static<typeof PackageRef>;

export const Lineage = Type.Object({
  /** sha256 of the teacher's weights (or of its ONNX file for an imported teacher). */
  teacherSha256: Type.Optional(Sha256Hex),
  teacherName: Type.Optional(Type.String()),
  distillationRunId: Type.Optional(Type.String()),
  /** The export job that built this package (cloud-made packages; older ones lack it and stay readable). */
  exportJobId: Type.Optional(Type.String()),
  studentArch: Type.Optional(Type.String()),
  calibrationMethod: Type.Optional(CalibrationMethod),
  /** The package this one was derived from or replaces (the previous version, the fp32 twin). */
  parent: Type.Optional(PackageRef),
  exporter: Type.Optional(Type.String()),
});
export type Lineage = Static<typeof Lineage>;

export const LatencyMeasurement = Type.Object({
  batch: Type.Integer({ minimum: 1 }),
  p50Ms: Type.Number({ minimum: 0 }),
  p99Ms: Type.Number({ minimum: 0 }),
  runtime: Type.String(),
  machine: Type.Optional(Type.String()),
});
export type LatencyMeasurement = Static<typeof LatencyMeasurement>;

export const ModelMetrics = Type.Object({
  /** Top-1 accuracy in [0, 1] on `evaluatedOn`. */
  fp32Accuracy: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  int8Accuracy: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  evaluatedOn: Type.Optional(Type.String()),
  latency: Type.Optional(Type.Array(LatencyMeasurement)),
});
export type ModelMetrics = Static<typeof ModelMetrics>;

export const MANIFEST_SCHEMA_VERSION = 1;

export const ModelManifest = Type.Object({
  schemaVersion: Type.Literal(MANIFEST_SCHEMA_VERSION),
  /** Model line; versions of one name replace each other on a device. */
  name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }),
  /** Monotonic per name: an agent refuses a version not greater than the one it runs. */
  version: Type.Integer({ minimum: 1 }),
  /** ISO-8601 time of signing; the trusted-keys validity window is checked against it. */
  createdAt: Type.String({ format: 'date-time' }),
  model: Type.Object({ file: Type.Literal('model.onnx'), sha256: Sha256Hex, size: Type.Integer({ minimum: 1 }) }),
  input: ModelInput,
  outputs: Type.Array(ModelOutput, { minItems: 1 }),
  labels: Type.Array(Type.String()),
  runtime: RuntimeRequirements,
  quantization: QuantizationInfo,
  driftReference: Type.Optional(DriftReference),
  lineage: Lineage,
  metrics: ModelMetrics,
});
export type ModelManifest = Static<typeof ModelManifest>;

export const parseModelManifest = createParser(ModelManifest, 'model manifest', 'EDGEKD_PACKAGE_INVALID');
