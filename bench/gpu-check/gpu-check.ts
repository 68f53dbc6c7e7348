/**
 * node bin/run-ts.mjs bench/gpu-check/gpu-check.ts [--pair lenet|resnet8] [--reps N]
 *
 * Checks the GPU training path on a GPU host, in at most 5 minutes:
 * 1. reports the host (Node, `nvidia-smi -L`, Vulkan ICD files);
 * 2. loads the best GPU backend available — tfjs WebGPU on Node through the `webgpu` package
 *    (Dawn over Vulkan), then `@tensorflow/tfjs-node-gpu` — and says which, or why none loaded;
 * 3. runs one KD step (teacher logits + student KD loss, gradients, SGD update) and one synthesis
 *    step (generator → teacher BN statistics + class loss, gradients of generator and z) on the
 *    GPU and on wasm from identical weights and inputs, and compares them:
 *    KD loss and synthesis loss within a relative 1e-3, every gradient within
 *    max|g_gpu − g_cpu| ≤ 1e-3 · max|g_cpu| + 1e-6 (float32 reductions in another order);
 * 4. reports KD steps/s and synthesis samples/s on both backends.
 * Exit codes: 0 all checks passed; 1 a comparison failed; 2 no GPU backend on this host; 3 over
 * the time limit. JSON result on stdout (also written to $OUT/gpu-check.json when OUT is set, and
 * to bench/results/gpu-check.json after a run on a GPU backend, which bench:compute reports).
 *
 * `EDGEKD_GPU_CHECK_BACKEND=cpu` runs the same comparison against tfjs's cpu backend instead of a
 * GPU (a self-test of this script on a machine without one; it says so and never counts as a GPU run).
 * Every read is `await data()`: WebGPU's synchronous reads need OffscreenCanvas, which Node lacks.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initCompute } from '../../cloud/compute';
import { bnStatsLoss, crossEntropyPerSample, kdPerSample, weightedMean } from '../../cloud/distill/losses';
import { createGenerator, generate } from '../../cloud/distill/generator';
import { createRandom } from '../../shared/random/seeded-random';
import { wrapTeacher } from '../../cloud/distill/teacher';
import { buildModel } from '../../cloud/zoo';

const LIMIT_MS = 5 * 60_000;
const started = Date.now();
const args = process.argv.slice(2);
const flag = (n: string) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const pairName = flag('pair') ?? 'lenet';
const reps = Number(flag('reps') ?? 10);
const PAIRS: Record<string, { teacher: string; student: string }> = { lenet: { teacher: 'lenet5-bn', student: 'lenet5-half' }, resnet8: { teacher: 'resnet8', student: 'resnet8' } };
const pair = PAIRS[pairName];
const INPUT: [number, number, number] = [28, 28, 1];
const KD_BATCH = 128;
const SYN_BATCH = 32;
const TOL = { loss: 1e-3, grad: 1e-3 };
const log = (m: string) => console.error(`[gpu-check] ${m}`);
const result: Record<string, unknown> = { startedAt: new Date(started).toISOString(), pair: pairName, tolerance: TOL };

function finish(code: number, reason: string): never {
  result.exitCode = code;
  result.verdict = reason;
  result.seconds = (Date.now() - started) / 1000;
  const text = JSON.stringify(result, null, 2);
  console.log(text);
  // A real GPU run (pass or mismatch) is the record bench:compute reports; no-GPU and self-test runs are not.
  if ((code === 0 || code === 1) && typeof result.backend === 'string' && result.backend !== 'cpu') {
    writeFileSync(join(import.meta.dirname, '../results/gpu-check.json'), text);
  }
  if (process.env.OUT) {
    mkdirSync(process.env.OUT, { recursive: true });
    writeFileSync(join(process.env.OUT, 'gpu-check.json'), text);
  }
  log(reason);
  const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
  if (nav && 'gpu' in nav) delete nav.gpu; // dawn.node keeps the process alive otherwise
  process.exit(code);
}
setTimeout(() => finish(3, `over the ${LIMIT_MS / 60_000}-minute limit`), LIMIT_MS).unref();

function host(): Record<string, unknown> {
  const smi = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' });
  const icdDirs = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d'].filter(existsSync);
  return {
    node: process.version,
    nvidiaSmi: smi.status === 0 ? smi.stdout.trim() : `unavailable (${smi.error ? String(smi.error.message) : smi.stderr.trim()})`,
    vulkanIcds: icdDirs.flatMap((d) => readdirSync(d).map((f) => join(d, f))),
  };
}

/** Tries the GPU backends best first; returns the backend name or null with every reason. */
async function loadGpuBackend(): Promise<{ name: string | null; tried: string[] }> {
  const tried: string[] = [];
  const forced = process.env.EDGEKD_GPU_CHECK_BACKEND;
  if (forced === 'cpu') {
    await tf.setBackend('cpu');
    tried.push('cpu: self-test requested by EDGEKD_GPU_CHECK_BACKEND=cpu (not a GPU)');
    return { name: 'cpu', tried };
  }
  // 1. WebGPU through Dawn's node binding. The backend registers itself only if navigator.gpu
  //    exists when its module is imported, so the adapter comes first.
  try {
    const pkg = 'webgpu';
    const webgpu = (await import(pkg)) as { create: (o: string[]) => { requestAdapter: (o: object) => Promise<{ info?: Record<string, string> } | null> }; globals: object };
    Object.assign(globalThis, webgpu.globals);
    const gpu = webgpu.create(process.env.DAWN_BACKEND ? [`backend=${process.env.DAWN_BACKEND}`] : []);
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (!adapter) tried.push('webgpu: the webgpu package loaded but found no adapter (no Vulkan ICD for the GPU? see cloud/compute/README.md)');
    else {
      const g = globalThis as { navigator?: object };
      if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
      else g.navigator = { gpu };
      const backendPkg = '@tensorflow/tfjs-backend-webgpu';
      await import(backendPkg);
      if (await tf.setBackend('webgpu')) {
        result.adapter = adapter.info ?? {};
        return { name: 'webgpu', tried };
      }
      tried.push('webgpu: adapter found but tf.setBackend("webgpu") failed');
    }
  } catch (e) {
    tried.push(`webgpu: ${(e as Error).message.split('\n')[0]}`);
  }
  // 2. tfjs-node-gpu (CUDA 11.2 / cuDNN 8.1 builds of libtensorflow 2.9).
  try {
    const pkg = '@tensorflow/tfjs-node-gpu';
    await import(pkg);
    if (await tf.setBackend('tensorflow')) return { name: 'tensorflow (tfjs-node-gpu)', tried };
    tried.push('tfjs-node-gpu: loaded but the tensorflow backend did not start');
  } catch (e) {
    tried.push(`tfjs-node-gpu: ${(e as Error).message.split('\n')[0]}`);
  }
  return { name: null, tried };
}

interface Weights {
  teacher: tf.Tensor[];
  student: tf.Tensor[];
  generator: Float32Array[];
}

/** Both steps on the active backend, from the same weights and inputs; returns values and gradients. */
async function steps(w: { teacher: Float32Array[]; student: Float32Array[] }, x: Float32Array, z: Float32Array, targets: Int32Array, timed: boolean) {
  const teacherModel = buildModel(pair!.teacher, { inputShape: INPUT, numClasses: 10, seed: 11 });
  const student = buildModel(pair!.student, { inputShape: INPUT, numClasses: 10, seed: 12 });
  teacherModel.setWeights(teacherModel.getWeights().map((t, i) => tf.tensor(w.teacher[i]!, t.shape)));
  student.setWeights(student.getWeights().map((t, i) => tf.tensor(w.student[i]!, t.shape)));
  const teacher = wrapTeacher(teacherModel);
  const sVars = student.trainableWeights.map((v) => (v as unknown as { val: tf.Variable }).val);
  const genCfg = { nz: 64, ngf: 8, outputShape: INPUT, range: { low: -1, high: 1 } };
  const gen = createGenerator(genCfg, createRandom(3));
  const zVar = tf.variable(tf.tensor2d(z, [SYN_BATCH, 64]));
  const xT = tf.tensor4d(x, [KD_BATCH, ...INPUT]);

  const kd = () => {
    const tLogits = tf.tidy(() => teacher.logits(xT));
    const r = tf.variableGrads(() => weightedMean(kdPerSample(student.apply(xT, { training: true }) as tf.Tensor2D, tLogits, 20)), sVars);
    tLogits.dispose();
    return r;
  };
  const syn = () =>
    tf.variableGrads(() => {
      const img = generate(gen, zVar, genCfg);
      const { bnInputs, logits } = teacher.probe(img);
      const loss = tf.add(tf.mul(10, bnStatsLoss(bnInputs, teacher.bnLayers)), tf.mul(0.5, weightedMean(crossEntropyPerSample(logits, targets, 10)))) as tf.Scalar;
      return loss;
    }, [...gen, zVar]);

  const read = async (r: { value: tf.Scalar; grads: tf.NamedTensorMap }, order: tf.Variable[]) => {
    const value = (await r.value.data())[0]!;
    const grads = await Promise.all(order.map((v) => r.grads[v.name]!.data() as Promise<Float32Array>));
    tf.dispose([r.value, ...Object.values(r.grads)]);
    return { value, grads };
  };
  const kdOut = await read(kd(), sVars);
  const synOut = await read(syn(), [...gen, zVar]);
  let timing: { kdStepsPerSec: number; synthesisSamplesPerSec: number } | undefined;
  if (timed) {
    const per = async (f: () => { value: tf.Scalar; grads: tf.NamedTensorMap }, n: number) => {
      await read(f(), []); // warm-up
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const r = f();
        await r.value.data();
        tf.dispose([r.value, ...Object.values(r.grads)]);
      }
      return (performance.now() - t0) / n;
    };
    const kdMs = await per(kd, reps);
    const synMs = await per(syn, reps);
    timing = { kdStepsPerSec: +(1000 / kdMs).toFixed(2), synthesisSamplesPerSec: +((1000 * SYN_BATCH) / synMs).toFixed(1) };
  }
  tf.dispose([xT, zVar, ...gen]);
  teacher.dispose?.();
  teacherModel.dispose();
  student.dispose();
  return { kd: kdOut, syn: synOut, timing };
}

function compare(name: string, a: { value: number; grads: Float32Array[] }, b: { value: number; grads: Float32Array[] }) {
  const lossRel = Math.abs(a.value - b.value) / Math.max(1e-12, Math.abs(b.value));
  let worst = 0;
  for (let i = 0; i < b.grads.length; i++) {
    let maxRef = 0;
    let maxDiff = 0;
    for (let j = 0; j < b.grads[i]!.length; j++) {
      maxRef = Math.max(maxRef, Math.abs(b.grads[i]![j]!));
      maxDiff = Math.max(maxDiff, Math.abs(a.grads[i]![j]! - b.grads[i]![j]!));
    }
    worst = Math.max(worst, maxDiff / (TOL.grad * maxRef + 1e-6));
  }
  const ok = lossRel <= TOL.loss && worst <= 1;
  return { name, ok, lossGpu: a.value, lossCpu: b.value, lossRelDiff: lossRel, worstGradOverTolerance: +worst.toFixed(4) };
}

async function main(): Promise<void> {
  if (!pair) finish(1, `unknown --pair ${pairName}; use lenet or resnet8`);
  result.host = host();
  log(`host: ${JSON.stringify(result.host)}`);
  // Reference first, on wasm: weights and inputs are made here and handed to the GPU run as arrays.
  await initCompute({ backend: 'wasm' });
  const rng = createRandom(9);
  const t = buildModel(pair!.teacher, { inputShape: INPUT, numClasses: 10, seed: 11 });
  const s = buildModel(pair!.student, { inputShape: INPUT, numClasses: 10, seed: 12 });
  const w = { teacher: await Promise.all(t.getWeights().map((x) => x.data() as Promise<Float32Array>)), student: await Promise.all(s.getWeights().map((x) => x.data() as Promise<Float32Array>)) };
  t.dispose();
  s.dispose();
  const x = rng.normals(KD_BATCH * 784).map((v) => Math.max(-1, Math.min(1, 0.5 * v)));
  const z = rng.normals(SYN_BATCH * 64);
  const targets = Int32Array.from({ length: SYN_BATCH }, (_, i) => i % 10);
  const cpu = await steps(w, x, z, targets, true);
  result.cpu = { backend: 'wasm', ...cpu.timing };

  const gpu = await loadGpuBackend();
  result.backendsTried = gpu.tried;
  if (!gpu.name) finish(2, `no GPU backend on this host: ${gpu.tried.join('; ')}`);
  result.backend = gpu.name;
  log(`backend: ${gpu.name}`);
  const g = await steps(w, x, z, targets, true);
  result.gpu = { backend: gpu.name, ...g.timing };
  const checks = [compare('kd-step', g.kd, cpu.kd), compare('synthesis-step', g.syn, cpu.syn)];
  result.checks = checks;
  const selfTest = gpu.name === 'cpu' ? ' (self-test against tfjs cpu: NOT a GPU run)' : '';
  finish(checks.every((c) => c.ok) ? 0 : 1, `${checks.every((c) => c.ok) ? 'passed' : 'FAILED'}: ${checks.map((c) => `${c.name} ${c.ok ? 'ok' : 'mismatch'}`).join(', ')} on ${gpu.name}${selfTest}`);
}

await main();
