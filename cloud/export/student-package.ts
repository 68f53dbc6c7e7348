import type * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';
import { buildSignedPackage, type ManifestDraft, type ModelPackage } from '../../shared/package/build-package';
import type { SigningKey } from '../../shared/package/keys';
import type { CalibrationMethod, DriftReference, Lineage, ModelManifest, ModelMetrics, QuantizationInfo } from '../../shared/package/manifest';
import { irVersionForOpset } from '../../shared/package/onnx/onnx-protos';
import { calibrate, type CalibrationSamples } from './calibrate';
import { encodeGraph } from './onnx-ir';
import { optimizedGraphSummary, type OptimizedGraphSummary } from './optimized-graph';
import { hostCpuClass, weightBitsFor, type CpuClass } from './cpu-class';
import { layerMacs } from '../zoo/model-stats';
import { DEFAULT_FLOAT_LAYER_RULE, QUANTIZE_ALL, planInt8, type FloatLayerRule } from './layer-precision';
import { quantizeQdq, type QuantTarget, type QuantizeReport } from './qdq-quantize';
import { INT8_CHECK_BATCHES, INT8_CHECK_TOLERANCE, decideInt8, ortInt8Timer, type Int8CheckMode, type Int8Timer } from './int8-latency-check';
import { exportToOnnx, type ExportOptions, type ExportResult } from './tfjs-to-onnx';

/**
 * The whole export path for one student: tfjs → fp32 ONNX → (optionally) calibrated int8 QDQ →
 * manifest → signed package. Evaluation is injected (the CLI evaluates on the real test split;
 * tests pass a stub), so this function never touches a dataset.
 */
export interface StudentInfo {
  /** Package name (model line). */
  name: string;
  version: number;
  labels: string[];
  /** Raw input range and the affine map to model units (from the model card's normalisation). */
  normalisation: ModelManifest['input']['normalisation'];
  lineage?: Lineage;
  driftReference?: DriftReference;
}

export interface StudentPackageOptions {
  model: tf.LayersModel;
  info: StudentInfo;
  key: SigningKey;
  precision: 'fp32' | 'int8';
  target?: QuantTarget;
  calibration?: { method: CalibrationMethod; samples: CalibrationSamples; percentile?: number };
  /** CPU class of the devices the `cpu` artifact is for (decides 7- or 8-bit weights); default: this host's. */
  cpuClass?: CpuClass;
  /** Per-layer opt-out; default `DEFAULT_FLOAT_LAYER_RULE` on `cpu`, none on `tensorrt` (not measured there). */
  floatLayerRule?: FloatLayerRule;
  /**
   * How int8 is confirmed: `measure` (default on cpu) times fp32 and int8 here and ships int8 only
   * when it is not slower at batch 1 and 64; `rules` trusts the MAC-share rule (default on tensorrt,
   * which cannot be timed here); `off` ships int8 whenever asked (no MAC-share decline either).
   */
  int8Check?: Int8CheckMode;
  /** The timer `measure` uses; default `ortInt8Timer()` (onnxruntime-node, ~2 s). */
  int8Timer?: Int8Timer;
  /** int8 may be this fraction slower and still ship; default `INT8_CHECK_TOLERANCE`. */
  int8Tolerance?: number;
  export?: Pick<ExportOptions, 'extraOutputs' | 'probes' | 'opset' | 'appendSoftmax'>;
  /** Returns top-1 accuracy of an ONNX model (fp32 and int8 are both measured when given). */
  evaluate?: (onnx: Uint8Array) => Promise<number>;
  evaluatedOn?: string;
  latency?: ModelMetrics['latency'];
  /** A fixed reference, or one computed from the final model bytes (e.g. its outputs on synthetic samples). */
  driftReference?: DriftReference | ((model: Uint8Array) => Promise<DriftReference>);
  now?: Date;
}

export interface StudentPackageResult {
  pkg: ModelPackage;
  fp32: ExportResult;
  quantize?: QuantizeReport;
  /** What onnxruntime's CPU provider made of the shipped model. */
  optimized: OptimizedGraphSummary;
}

/** Conservative floor: opset 13 QDQ with per-channel weights and QLinearConv fusion; tested on 1.30. */
export const MIN_ONNXRUNTIME = '1.17.0';

export async function buildStudentPackage(o: StudentPackageOptions): Promise<StudentPackageResult> {
  const fp32 = exportToOnnx(o.model, { appendSoftmax: true, ...o.export });
  let bytes = fp32.bytes;
  let quantization: QuantizationInfo = { precision: 'fp32' };
  let report: QuantizeReport | undefined;
  const target = o.target ?? 'cpu';
  const rule = o.floatLayerRule ?? (target === 'cpu' ? DEFAULT_FLOAT_LAYER_RULE : QUANTIZE_ALL);
  const check: Int8CheckMode = o.int8Check ?? (target === 'cpu' ? 'measure' : 'rules');
  const planned = o.precision === 'int8' ? planInt8(fp32.graph, rule, layerMacs(o.model)) : null;
  const plan = planned && check === 'off' ? { ...planned, declined: null } : planned;
  if (plan?.declined) quantization = { precision: 'fp32', int8Declined: { rule: rule.name, int8MacShare: plan.int8MacShare, reason: plan.declined } };
  if (plan && !plan.declined) {
    if (!o.calibration) throw new EdgekdError('EDGEKD_CALIBRATION_INVALID', 'int8 export needs synthetic calibration samples (the distillation replay buffer)');
    const cal = await calibrate(fp32.graph, o.calibration.samples, { method: o.calibration.method, percentile: o.calibration.percentile, target });
    const cpuClass = o.cpuClass ?? hostCpuClass();
    const bits = weightBitsFor(target, cpuClass);
    const floatLayers = plan.floatLayers;
    const q = quantizeQdq(fp32.graph, { target, ranges: cal.ranges, reduceRange: bits === 7, keepFloat: new Set(floatLayers.map((l) => l.node)) });
    const int8Bytes = encodeGraph(q.graph);
    let latencyCheck: QuantizationInfo['latencyCheck'];
    let measuredSlower: string | null = null;
    if (check === 'measure') {
      // Measured on this machine: the rule predicts, the timing decides (int8-latency-check.ts).
      const tolerance = o.int8Tolerance ?? INT8_CHECK_TOLERANCE;
      const pairs = await (o.int8Timer ?? ortInt8Timer())({ fp32: fp32.bytes, int8: int8Bytes, inputShape: fp32.inputShape }, INT8_CHECK_BATCHES);
      measuredSlower = decideInt8(pairs, tolerance).reason;
      latencyCheck = { method: 'measure', tolerance, batches: pairs.map((p) => ({ batch: p.batch, fp32P50Ms: p.fp32P50Ms, int8P50Ms: p.int8P50Ms })) };
    }
    if (measuredSlower !== null) {
      quantization = { precision: 'fp32', int8Declined: { rule: rule.name, int8MacShare: plan.int8MacShare, reason: measuredSlower }, ...(latencyCheck ? { latencyCheck } : {}) };
    } else {
      bytes = int8Bytes;
      report = q.report;
      quantization = {
        precision: 'int8',
        target,
        format: 'qdq',
        weights: { dtype: 'int8', scheme: 'per-channel-symmetric', axis: 0, bits, chosenFor: target === 'tensorrt' ? 'gpu' : cpuClass },
        floatLayers: { rule: rule.name, nodes: floatLayers },
        activations: { dtype: target === 'cpu' ? 'uint8' : 'int8', symmetric: target === 'tensorrt', granularity: 'per-tensor' },
        ...(target === 'cpu' ? { bias: 'int32' as const } : {}),
        calibration: { method: cal.method, samples: cal.samples, source: 'synthetic', ...(cal.percentile !== undefined ? { percentile: cal.percentile } : {}) },
        ...(latencyCheck ? { latencyCheck } : {}),
      };
    }
  }
  const metrics: ModelMetrics = {};
  if (o.evaluate) {
    metrics.fp32Accuracy = await o.evaluate(fp32.bytes);
    if (quantization.precision === 'int8') metrics.int8Accuracy = await o.evaluate(bytes);
    if (o.evaluatedOn) metrics.evaluatedOn = o.evaluatedOn;
  }
  if (o.latency) metrics.latency = o.latency;
  const driftReference = typeof o.driftReference === 'function' ? await o.driftReference(bytes) : (o.driftReference ?? o.info.driftReference);
  const draft: ManifestDraft = {
    name: o.info.name,
    version: o.info.version,
    input: { name: fp32.inputName, shape: fp32.inputShape, layout: 'NHWC', dtype: 'float32', normalisation: o.info.normalisation },
    outputs: fp32.outputs.map((x) => ({ name: x.name, kind: x.kind, shape: x.dims })),
    labels: o.info.labels,
    runtime: {
      opset: fp32.opset,
      irVersion: irVersionForOpset(fp32.opset),
      minOnnxruntime: MIN_ONNXRUNTIME,
      executionProviders: target === 'tensorrt' && quantization.precision === 'int8' ? ['tensorrt', 'cuda', 'cpu'] : ['cpu'],
    },
    quantization,
    lineage: { exporter: 'edgekd-export/1', ...(o.calibration && quantization.precision === 'int8' ? { calibrationMethod: o.calibration.method } : {}), ...o.info.lineage },
    metrics,
    ...(driftReference ? { driftReference } : {}),
  };
  const pkg = buildSignedPackage(draft, bytes, o.key, o.now);
  return { pkg, fp32, ...(report ? { quantize: report } : {}), optimized: await optimizedGraphSummary(bytes) };
}
