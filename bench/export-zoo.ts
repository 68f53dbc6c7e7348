/**
 * The zoo half of `bench:export`: every zoo student (and the LeNet-5-BN teacher) at batch 1 and
 * 64, fp32 against the int8 variants the quantizer can produce — all layers or the per-layer
 * opt-out rule, 7- or 8-bit weights — in interleaved rounds, with test accuracy.
 *
 * Accuracy needs trained weights and the students are not committed, so each student is trained
 * here for a few hundred real-label steps (a fixture for measuring quantization fidelity, never a
 * product path); the teacher is the committed one. Calibration is synthetic (the samples the
 * caller passes: teacher inversion or a replay buffer), as in a shipped package.
 */
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import type { LabelledSplit } from '../cloud/data';
import { collectActivationStats, rangesFromStats, type CalibrationSamples } from '../cloud/export/calibrate';
import { onnxAccuracy } from '../cloud/export/evaluate-onnx';
import { DEFAULT_FLOAT_LAYER_RULE, QUANTIZE_ALL, floatLayersByRule, planInt8, type FloatLayerRule } from '../cloud/export/layer-precision';
import { layerMacs } from '../cloud/zoo/model-stats';
import { decideInt8, INT8_CHECK_BATCHES, ortInt8Timer, type LatencyPair } from '../cloud/export/int8-latency-check';
import { encodeGraph } from '../cloud/export/onnx-ir';
import { quantizeQdq } from '../cloud/export/qdq-quantize';
import { exportToOnnx } from '../cloud/export/tfjs-to-onnx';
import { buildModel } from '../cloud/zoo/zoo';
import { percentile } from '../shared/math/percentile';

export interface ZooRow {
  model: string;
  /** The dataset the model was trained, calibrated and scored on. */
  dataset: string;
  runtime: 'onnxruntime-node';
  precision: 'fp32' | 'int8';
  /** `fp32`, or `<rule>/<bits>-bit`. */
  variant: string;
  batch: number;
  p50Ms: number;
  minMs: number;
  bytes: number;
  accuracy: number;
  /** Layers the variant kept in fp32. */
  floatLayers: string[];
  trainSteps: number;
  /** Share of the MACs the shipped rule leaves in int8, and whether the package would be fp32. */
  int8MacShare: number;
  int8Declined: boolean;
  /** What declined int8: the MAC-share rule, or the export-time latency check (`edgekd export` default). */
  int8DeclinedBy: 'rule' | 'measured' | null;
  /** The export-time check's own timing of fp32 against the shipped variant (absent when the rule declined). */
  exportCheck?: LatencyPair[];
}

export interface ZooBenchOptions {
  archs: string[];
  dataset: string;
  /** The committed, trained teacher, benchmarked as `lenet5-bn`. */
  teacher?: tf.LayersModel;
  train: LabelledSplit;
  test: LabelledSplit;
  synthetic: CalibrationSamples;
  trainSteps: number;
  rounds: number;
  iters1: number;
  iters64: number;
  log: (m: string) => void;
  /** Weight bits of the variant `edgekd export` would ship here (the CPU class's). */
  shippedBits: 7 | 8;
  /** Opt-out rules to compare (default: none and the shipped rule). */
  rules?: FloatLayerRule[];
}

function trainBriefly(model: tf.LayersModel, train: LabelledSplit, steps: number, seed: number): void {
  const opt = tf.train.adam(2e-3);
  const per = train.shape[0] * train.shape[1] * train.shape[2];
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const batch = 64;
  for (let step = 0; step < steps; step++) {
    const x = new Float32Array(batch * per);
    const y = new Int32Array(batch);
    for (let i = 0; i < batch; i++) {
      const j = Math.floor(next() * train.count);
      x.set(train.images.subarray(j * per, (j + 1) * per), i * per);
      y[i] = train.labels[j]!;
    }
    tf.tidy(() => {
      const xt = tf.tensor4d(x, [batch, ...train.shape]);
      const yt = tf.oneHot(tf.tensor1d(y, 'int32'), 10);
      opt.minimize(() => tf.losses.softmaxCrossEntropy(yt, model.apply(xt, { training: true }) as tf.Tensor) as tf.Scalar);
    });
  }
  opt.dispose();
}


export async function benchZoo(o: ZooBenchOptions): Promise<ZooRow[]> {
  const rows: ZooRow[] = [];
  const shape = o.test.shape;
  const per = shape[0] * shape[1] * shape[2];
  const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 };
  for (const arch of o.archs) {
    const isTeacher = arch === 'lenet5-bn' && o.teacher;
    const model = isTeacher ? o.teacher! : buildModel(arch, { inputShape: shape, numClasses: 10, seed: 1 });
    const t0 = Date.now();
    if (!isTeacher) trainBriefly(model, o.train, o.trainSteps, 7);
    o.log(`${arch}: ${isTeacher ? 'committed teacher' : `trained ${o.trainSteps} steps in ${((Date.now() - t0) / 1000).toFixed(0)} s`}`);
    const f = exportToOnnx(model, { appendSoftmax: true });
    const plan = planInt8(f.graph, DEFAULT_FLOAT_LAYER_RULE, layerMacs(model));
    o.log(`${arch}: ${(plan.int8MacShare * 100).toFixed(0)} % of MACs in int8 under ${DEFAULT_FLOAT_LAYER_RULE.name}${plan.declined ? ` — declined: ${plan.declined}` : ''}`);
    const stats = await collectActivationStats(f.graph, o.synthetic.data, o.synthetic.shape, { histograms: true });
    const variants: Array<{ variant: string; precision: 'fp32' | 'int8'; bytes: Uint8Array; floatLayers: string[] }> = [{ variant: 'fp32', precision: 'fp32', bytes: f.bytes, floatLayers: [] }];
    for (const rule of o.rules ?? [QUANTIZE_ALL, DEFAULT_FLOAT_LAYER_RULE]) {
      for (const bits of [7, 8] as const) {
        const keep = floatLayersByRule(f.graph, rule).map((l) => l.node);
        const ranges = rangesFromStats(stats, 'entropy', { exact: f.graph.inputs.map((i) => i.name) });
        const q = quantizeQdq(f.graph, { target: 'cpu', ranges, reduceRange: bits === 7, keepFloat: new Set(keep) });
        variants.push({ variant: `${rule.name}/${bits}-bit`, precision: 'int8', bytes: encodeGraph(q.graph), floatLayers: keep });
      }
    }
    // What `edgekd export` (default --int8-check measure) does next: time fp32 against the shipped
    // variant with the exporter's own timer, before and apart from this benchmark's rounds.
    const shipped = variants.find((v) => v.variant === `${DEFAULT_FLOAT_LAYER_RULE.name}/${o.shippedBits}-bit`)!;
    const exportCheck = plan.declined ? undefined : await ortInt8Timer()({ fp32: f.bytes, int8: shipped.bytes, inputShape: f.inputShape }, INT8_CHECK_BATCHES);
    const measuredDecline = exportCheck ? decideInt8(exportCheck).reason : null;
    const declinedBy = plan.declined ? 'rule' : measuredDecline ? 'measured' : null;
    if (exportCheck) o.log(`${arch}: export-time check ${exportCheck.map((p) => `batch ${p.batch} fp32/int8 ${(p.fp32P50Ms / p.int8P50Ms).toFixed(2)}×`).join(', ')} — ${measuredDecline ? 'int8 declined' : 'int8 ships'}`);
    const acc: number[] = [];
    for (const v of variants) acc.push(await onnxAccuracy(v.bytes, o.test.images, o.test.labels, shape, { outputName: 'probabilities' }));
    const sessions = await Promise.all(variants.map((v) => ort.InferenceSession.create(v.bytes, opts)));
    for (const batch of [1, 64]) {
      const x = new ort.Tensor('float32', o.test.images.slice(0, batch * per), [batch, ...shape]);
      for (const s of sessions) for (let i = 0; i < 3; i++) await s.run({ input: x });
      const times: number[][] = variants.map(() => []);
      const iters = Math.max(1, Math.ceil((batch === 1 ? o.iters1 : o.iters64) / o.rounds));
      for (let r = 0; r < o.rounds; r++) {
        for (let k = 0; k < sessions.length; k++) {
          for (let i = 0; i < iters; i++) {
            const a = performance.now();
            await sessions[k]!.run({ input: x });
            times[k]!.push(performance.now() - a);
          }
        }
      }
      variants.forEach((v, k) => {
        const sorted = [...times[k]!].sort((a, b) => a - b);
        rows.push({ model: arch, dataset: o.dataset, runtime: 'onnxruntime-node', precision: v.precision, variant: v.variant, batch, p50Ms: +percentile(sorted, 50)!.toFixed(4), minMs: +sorted[0]!.toFixed(4), bytes: v.bytes.length, accuracy: acc[k]!, floatLayers: v.floatLayers, trainSteps: isTeacher ? 0 : o.trainSteps, int8MacShare: plan.int8MacShare, int8Declined: declinedBy !== null, int8DeclinedBy: declinedBy, ...(exportCheck ? { exportCheck } : {}) });
      });
      o.log(`${arch} batch ${batch}: ${variants.map((v, k) => `${v.variant} ${rows[rows.length - variants.length + k]!.p50Ms} ms`).join(', ')}`);
    }
    for (const s of sessions) await s.release();
    if (!isTeacher) model.dispose();
  }
  return rows;
}
