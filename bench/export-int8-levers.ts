/**
 * npm run bench:export-levers [-- --archs a,b] [--rounds N]
 *
 * Where the small zoo models lose time in int8, and which quantization-format levers onnxruntime's
 * CPU provider rewards. For each model, fp32 and int8 variants are timed in the same interleaved
 * rounds (one intra-op thread, alternating order), and onnxruntime's per-node profiler gives each
 * node's kernel time in the shipped variant and in fp32.
 *
 * Variants (all built from the exporter's own QDQ graph of the shipped rule, `few-input-channels`,
 * 8-bit weights, unless named otherwise):
 * - `qdq`: what ships (uint8 activations, per-channel int8 weights, ReLU folded; U8S8);
 * - `qdq-s8s8`: int8 activations (zero point − 128, same scale: the same real values), S8S8;
 * - `qdq-per-tensor`: one weight scale per layer (the largest channel scale) instead of per channel;
 * - `qoperator`: onnxruntime's own fused graph of `qdq` (QLinearConv/QLinearAdd/QGemm…, written
 *   with `optimizedModelFilePath`) loaded back with graph optimisation disabled: the QOperator form
 *   with no fusion left to do at load;
 * - `qdq-float-head`: also keeps the dense head (every Gemm) and the pooling/reshape before it in
 *   fp32, so the int8 region ends at the last convolution;
 * - `qdq-no-propagation`: `qdq` in a session with onnxruntime's QDQPropagationTransformer disabled
 *   (it moves the QuantizeLinear that ends a float region above a float MaxPool, onto uint8 NCHW);
 * - `qdq-extended` / `fp32-extended`: graph optimisation level `extended` instead of the default
 *   `all` (which adds the NCHWc layout transformer for float convolutions);
 * - `qdq-all-layers`: no opt-out (the stem convolution in int8 too).
 *
 * Weights are the zoo's seeded initialisation and calibration is on uniform random inputs: this is
 * a latency study (every variant has the same MACs and node structure whatever the weights);
 * accuracy of what ships is measured by `bench:export` on trained models.
 * Writes bench/results/export-int8-levers.json and the export-int8-levers section of BENCHMARKS.md.
 */
import * as ort from 'onnxruntime-node';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectActivationStats, rangesFromStats } from '../cloud/export/calibrate';
import { DEFAULT_FLOAT_LAYER_RULE, floatLayersByRule } from '../cloud/export/layer-precision';
import { cloneGraph, encodeGraph, type IrGraph, type IrInitializer } from '../cloud/export/onnx-ir';
import { quantizeQdq } from '../cloud/export/qdq-quantize';
import { exportToOnnx } from '../cloud/export/tfjs-to-onnx';
import { buildModel } from '../cloud/zoo/zoo';
import { markdownTable, writeBenchReport } from './report';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const archs = (opt('archs') ?? 'lenet5-half,lenet5-bn,mobilenet-tiny,resnet8-half,resnet8,mobilenet-cifar').split(',').filter(Boolean);
const rounds = Number(opt('rounds') ?? 31);
const command = `npm run bench:export-levers${args.length ? ` -- ${args.join(' ')}` : ''}`;

type Level = 'disabled' | 'basic' | 'extended' | 'all';
interface Variant {
  name: string;
  bytes: Uint8Array;
  level: Level;
  /** Session config entries (onnxruntime's `extra`), e.g. optimisers to disable. */
  config?: Record<string, Record<string, string>>;
}
interface Row {
  model: string;
  variant: string;
  batch: number;
  p50Ms: number;
  /** fp32 p50 / this variant's p50, from the same rounds. */
  speedup: number;
}

/** uint8 activation zero points → int8 (zp − 128): the same real values, S8S8 kernels. */
function toS8Activations(g0: IrGraph): IrGraph {
  const g = cloneGraph(g0);
  for (const n of g.nodes) {
    if (n.opType !== 'QuantizeLinear' && n.opType !== 'DequantizeLinear') continue;
    const z = n.inputs[2] ? g.initializers.get(n.inputs[2]) : undefined;
    // cloneGraph shares initializer objects: replace, never mutate.
    if (z && z.data instanceof Uint8Array) g.initializers.set(z.name, { ...z, data: Int8Array.from(z.data, (v) => v - 128) });
  }
  return g;
}

/** Per-channel weight scales → one scale per layer (the largest), biases requantized to match. */
function toPerTensorWeights(g0: IrGraph): IrGraph {
  const g = cloneGraph(g0);
  const dqByOutput = new Map(g.nodes.filter((n) => n.opType === 'DequantizeLinear').map((n) => [n.outputs[0]!, n]));
  for (const n of g.nodes) {
    if (n.opType !== 'Conv' && n.opType !== 'Gemm') continue;
    const wdq = dqByOutput.get(n.inputs[1]!);
    if (!wdq) continue;
    const w = g.initializers.get(wdq.inputs[0]!)!;
    const ws = g.initializers.get(wdq.inputs[1]!)!;
    const scales = ws.data as Float32Array;
    const channels = scales.length;
    const sMax = Math.max(...scales);
    const q = w.data as Int8Array;
    const per = q.length / channels;
    const out = new Int8Array(q.length);
    for (let c = 0; c < channels; c++) for (let i = 0; i < per; i++) out[c * per + i] = Math.max(-127, Math.min(127, Math.round((q[c * per + i]! * scales[c]!) / sMax)));
    // cloneGraph shares initializer objects: replace, never mutate. Scalar scale and zero point,
    // no axis: what onnxruntime treats as per-tensor.
    const put = (name: string, data: IrInitializer['data'], dims: number[]) => g.initializers.set(name, { name, dims, data });
    put(w.name, out, w.dims);
    put(ws.name, new Float32Array([sMax]), []);
    put(wdq.inputs[2]!, new Int8Array(1), []);
    wdq.attrs = {};
    const bdq = n.inputs[2] ? dqByOutput.get(n.inputs[2]) : undefined;
    if (bdq) {
      const bq = g.initializers.get(bdq.inputs[0]!)!;
      const old = g.initializers.get(bdq.inputs[1]!)!.data as Float32Array;
      const sx = old[0]! / scales[0]!;
      const nb = new Int32Array(channels);
      for (let c = 0; c < channels; c++) nb[c] = Math.round(((bq.data as Int32Array)[c]! * old[c]!) / (sx * sMax));
      put(bq.name, nb, bq.dims);
      put(bdq.inputs[1]!, new Float32Array([sx * sMax]), []);
      put(bdq.inputs[2]!, new Int32Array(1), []);
      bdq.attrs = {};
    }
  }
  return g;
}

async function ortOptimized(bytes: Uint8Array): Promise<Uint8Array> {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-levers-'));
  const path = join(dir, 'optimized.onnx');
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', optimizedModelFilePath: path, intraOpNumThreads: 1, logSeverityLevel: 3 });
  await s.release();
  const out = new Uint8Array(readFileSync(path));
  rmSync(dir, { recursive: true, force: true });
  return out;
}

/** Kernel time per node (ms per run), in execution order, from onnxruntime's profiler. */
async function nodeProfile(bytes: Uint8Array, level: Level, x: ort.Tensor, runs: number): Promise<Array<[string, number]>> {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-levers-prof-'));
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, enableProfiling: true, profileFilePrefix: join(dir, 'p'), logSeverityLevel: 3, graphOptimizationLevel: level });
  for (let i = 0; i < 3; i++) await s.run({ input: x });
  const start = new Map<string, number>();
  const by = new Map<string, number[]>();
  for (let i = 0; i < runs; i++) await s.run({ input: x });
  s.endProfiling();
  await s.release();
  for (const f of readdirSync(dir)) {
    const ev = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Array<{ cat: string; name: string; dur: number; ts: number; args?: { op_name?: string } }>;
    for (const e of ev) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
      const k = `${e.args?.op_name ?? '?'} ${e.name.replace(/_kernel_time$/, '')}`;
      if (!start.has(k)) start.set(k, e.ts);
      (by.get(k) ?? by.set(k, []).get(k)!).push(e.dur / 1000);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  // Median per node over the last `runs` runs (the 3 warm-up runs are profiled too and dropped).
  return [...by.entries()].sort((a, b) => start.get(a[0])! - start.get(b[0])!).map(([k, v]) => {
    const last = v.slice(-runs).sort((a, b) => a - b);
    return [k, last[Math.floor(last.length / 2)]!];
  });
}

const rows: Row[] = [];
const profiles: Record<string, Record<string, Array<[string, number]>>> = {};
const log = (m: string) => console.log(m);
for (const arch of archs) {
  const shape: [number, number, number] = arch === 'resnet8-half' || arch === 'mobilenet-cifar' ? [32, 32, 3] : [28, 28, 1];
  const model = buildModel(arch, { inputShape: shape, numClasses: 10, seed: 1 });
  const f = exportToOnnx(model, { appendSoftmax: true });
  model.dispose();
  const per = shape[0] * shape[1] * shape[2];
  const data = new Float32Array(64 * per);
  let s = 12345;
  for (let i = 0; i < data.length; i++) data[i] = (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const stats = await collectActivationStats(f.graph, data, [64, ...shape], { histograms: true });
  const quant = (keep: string[]) => quantizeQdq(f.graph, { target: 'cpu', ranges: rangesFromStats(stats, 'entropy', { exact: f.graph.inputs.map((i) => i.name) }), reduceRange: false, keepFloat: new Set(keep) }).graph;
  const ruleKeep = floatLayersByRule(f.graph, DEFAULT_FLOAT_LAYER_RULE).map((l) => l.node);
  const gemms = f.graph.nodes.filter((n) => n.opType === 'Gemm' && !n.floatOnly).map((n) => n.name);
  const qdq = quant(ruleKeep);
  const qdqBytes = encodeGraph(qdq);
  const variants: Variant[] = [
    { name: 'fp32', bytes: f.bytes, level: 'all' },
    { name: 'qdq', bytes: qdqBytes, level: 'all' },
    { name: 'qdq-s8s8', bytes: encodeGraph(toS8Activations(qdq)), level: 'all' },
    { name: 'qdq-per-tensor', bytes: encodeGraph(toPerTensorWeights(qdq)), level: 'all' },
    { name: 'qoperator', bytes: await ortOptimized(qdqBytes), level: 'disabled' },
    { name: 'qdq-float-head', bytes: encodeGraph(quant([...ruleKeep, ...gemms])), level: 'all' },
    // onnxruntime moves the boundary QuantizeLinear above a float MaxPool (QDQPropagationTransformer),
    // so that pool runs on uint8 in NCHW; this variant switches that transformer off in the session.
    { name: 'qdq-no-propagation', bytes: qdqBytes, level: 'all', config: { optimization: { disable_specified_optimizers: 'QDQPropagationTransformer' } } },
    { name: 'qdq-extended', bytes: qdqBytes, level: 'extended' },
    { name: 'fp32-extended', bytes: f.bytes, level: 'extended' },
    { name: 'qdq-all-layers', bytes: encodeGraph(quant([])), level: 'all' },
  ];
  const sessions = await Promise.all(variants.map((v) => ort.InferenceSession.create(v.bytes, { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3, graphOptimizationLevel: v.level, ...(v.config ? { extra: v.config } : {}) })));
  for (const batch of [1, 64]) {
    const x = new ort.Tensor('float32', data.slice(0, batch * per), [batch, ...shape]);
    for (const ss of sessions) for (let i = 0; i < 5; i++) await ss.run({ input: x });
    const times: number[][] = variants.map(() => []);
    const iters = batch === 1 ? 100 : 5;
    for (let r = 0; r < rounds; r++) {
      for (let k0 = 0; k0 < sessions.length; k0++) {
        const k = r % 2 ? sessions.length - 1 - k0 : k0;
        const a = performance.now();
        for (let i = 0; i < iters; i++) await sessions[k]!.run({ input: x });
        times[k]!.push((performance.now() - a) / iters);
      }
    }
    const med = times.map((t) => [...t].sort((a, b) => a - b)[Math.floor(t.length / 2)]!);
    variants.forEach((v, k) => rows.push({ model: arch, variant: v.name, batch, p50Ms: +med[k]!.toFixed(4), speedup: +(med[0]! / med[k]!).toFixed(3) }));
    log(`${arch} batch ${batch}: ${variants.map((v, k) => `${v.name} ${med[k]!.toFixed(4)} ms (${(med[0]! / med[k]!).toFixed(2)}×)`).join(', ')}`);
    profiles[`${arch}/${batch}`] = { fp32: await nodeProfile(f.bytes, 'all', x, batch === 1 ? 200 : 20), qdq: await nodeProfile(qdqBytes, 'all', x, batch === 1 ? 200 : 20) };
  }
  for (const ss of sessions) await ss.release();
}

const load = loadavg();
const variantNames = [...new Set(rows.map((r) => r.variant))];
const table = markdownTable(
  archs.flatMap((a) => [1, 64].map((b) => ({ a, b }))),
  [
    ['model', (r) => r.a],
    ['batch', (r) => r.b],
    ['fp32 p50 ms', (r) => rows.find((x) => x.model === r.a && x.batch === r.b && x.variant === 'fp32')!.p50Ms],
    ...variantNames.filter((v) => v !== 'fp32').map((v): [string, (r: { a: string; b: number }) => string] => [v, (r) => `${rows.find((x) => x.model === r.a && x.batch === r.b && x.variant === v)!.speedup.toFixed(2)}×`]),
  ],
);
const profileText = Object.entries(profiles)
  .map(([k, p]) => {
    const fmt = (l: Array<[string, number]>) => `${l.reduce((a, [, v]) => a + v, 0).toFixed(3)} ms: ${l.map(([n, v]) => `${n} ${v.toFixed(3)}`).join(', ')}`;
    return `- **${k}** fp32 ${fmt(p.fp32!)}\n  - int8 (qdq) ${fmt(p.qdq!)}`;
  })
  .join('\n');
const markdown = [
  `Load average during the run (1/5/15 min): ${load.map((l) => l.toFixed(1)).join(' / ')} on 2 shared cores; variants are compared within the same interleaved rounds (${rounds} rounds, alternating order; each sample the mean of 100 runs at batch 1, 5 at batch 64). Cells are fp32 p50 / variant p50 (> 1× means faster than fp32). Untrained (seeded) weights, uniform random calibration and inputs: a latency study of formats, not of accuracy.`,
  '',
  table,
  '',
  'Per-node kernel time (median over runs, ms, onnxruntime profiler, one thread, execution order; the int8 model is the shipped `qdq` variant):',
  '',
  profileText,
].join('\n');
writeBenchReport<Row>({ name: 'export-int8-levers', command, rows, markdown, extra: { loadAverage: load, rounds, profiles } });
console.log(markdown);
