/**
 * npm run bench:compute [-- --quick] [-- --models a,b] [-- --batch 64]
 *
 * For every zoo model at batch 64: forward, training step, input gradient on wasm (with the
 * kernels of cloud/compute) and on the pure-JS cpu backend, achieved GFLOP/s, and data-parallel
 * throughput with 1 and 2 worker threads; all in one run so the ratios compare like with like.
 * cpu is measured on a small batch and scaled linearly to the reported batch (its kernels are
 * plain loops, linear in the batch); each such row says so.
 */
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { builtinLosses, createDataParallelTrainer, initCompute, inputGradient, modelGradients, threadCpuMs, trainableVariables } from '../cloud/compute';
import { buildModel, countMacs, zooArchs } from '../cloud/zoo';
import { createLogger } from '../shared/log/logger';
import { markdownTable, writeBenchReport } from './report';
import { measureDistill, measureDistillWorkers, roofline, type LeverRow } from './compute-distill';

interface Row {
  model: string;
  backend: string;
  /** 0 = in-process on the main thread; ≥ 1 = that many data-parallel worker threads. */
  workers: number;
  batch: number;
  /** Batch actually run (cpu: smaller, scaled to `batch`). */
  measuredBatch: number;
  reps: number;
  forwardMs: number | null;
  stepMs: number;
  inputGradMs: number | null;
  /** Thread CPU time of the same runs (ms): robust to other processes on a shared machine. */
  forwardCpuMs: number | null;
  /** Forward in training mode (BatchNorm batch statistics), wall and CPU ms. */
  forwardTrainMs: number | null;
  forwardTrainCpuMs: number | null;
  stepCpuMs: number | null;
  inputGradCpuMs: number | null;
  /** Worker rows: CPU ms per worker thread and on the main thread per step. */
  workerCpuMs?: number[];
  mainCpuMs?: number;
  /** Worker rows: max(worker CPU) + main CPU, the step time to expect with a free core per thread. */
  projectedStepMs?: number;
  imagesPerSec: number;
  /** Achieved GFLOP/s of the training step (see flopsNote). */
  gflops: number;
  macsPerImage: number;
  note?: string;
}

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const BATCH = Number(flag('--batch') ?? 64);
const MODELS = (flag('--models') ?? zooArchs.join(',')).split(',');
const REPS = quick ? 3 : 8;
const CPU_BATCH = quick ? 1 : 4;
const INPUT: [number, number, number] = [28, 28, 1];
const CLASSES = 10;
const log = createLogger('bench-compute', process.env.EDGEKD_LOG_LEVEL ?? 'warn');
const lossFn = builtinLosses['sparse-softmax-cross-entropy'];

const flopsNote =
  'FLOPs are counted analytically from the zoo\'s MAC count (Conv2D, DepthwiseConv2D, Dense; `countMacs`): forward = 2·MACs per image, ' +
  'training step = 3 × forward (forward, input gradient, weight gradient), input gradient = 2 × forward. BatchNorm, pooling and element-wise work are not counted, so GFLOP/s understates the work done.';

interface Timing {
  /** Median wall time (ms). */
  ms: number;
  /**
   * Mean CPU time of this thread (ms) over the same runs: total over all runs divided by their
   * number, because the kernel updates a running thread's CPU counter only at scheduler events
   * (ticks, switches), so a single short run reads coarsely.
   */
  cpuMs: number;
}

const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

// Medians: the machine is shared, a mean would carry other people's spikes.
function timeIt(reps: number, f: () => void): Timing {
  f(); // warm-up: kernel setup, XNNPACK operator creation, JIT
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = threadCpuMs();
    const t0 = performance.now();
    f();
    wall.push(performance.now() - t0);
    cpu.push(threadCpuMs() - c0);
  }
  return { ms: median(wall), cpuMs: cpu.reduce((a, b) => a + b, 0) / cpu.length };
}

function batchOf(n: number, seed: number): { x: tf.Tensor; y: tf.Tensor } {
  let s = seed >>> 0;
  const rnd = () => ((s = (s * 1664525 + 1013904223) >>> 0), (s / 2 ** 32) * 2 - 1);
  return {
    x: tf.tensor(Float32Array.from({ length: n * INPUT[0] * INPUT[1] * INPUT[2] }, rnd), [n, ...INPUT]),
    y: tf.tensor(Array.from({ length: n }, (_, i) => i % CLASSES), [n], 'int32'),
  };
}

/** forward / step / input-gradient times on the active backend, in this thread. */
function measureInProcess(arch: string, batch: number, reps: number): { forward: Timing; forwardTrain: Timing; step: Timing; inputGrad: Timing } {
  const model = buildModel(arch, { inputShape: INPUT, numClasses: CLASSES, seed: 1 });
  const { x, y } = batchOf(batch, 3);
  const optimizer = tf.train.adam(1e-3);
  const vars = trainableVariables(model);
  // Forward passes are short: more runs for a stable CPU reading.
  const forward = timeIt(reps * 3, () => tf.tidy(() => void (model.apply(x, { training: false }) as tf.Tensor).dataSync()));
  // Training-mode forward: BatchNorm computes batch statistics (and updates its moving averages).
  const forwardTrain = timeIt(reps * 3, () => tf.tidy(() => void (model.apply(x, { training: true }) as tf.Tensor).dataSync()));
  const step = timeIt(reps, () => {
    const { grads } = modelGradients(model, lossFn, x, y);
    optimizer.applyGradients(vars.map((v, i) => ({ name: v.name, tensor: grads[i]! })));
    tf.dispose(grads);
  });
  const inputGrad = timeIt(reps, () => {
    const { grad } = inputGradient(model, lossFn, x, y);
    grad.dispose();
  });
  tf.dispose([x, y]);
  optimizer.dispose();
  model.dispose();
  return { forward, forwardTrain, step, inputGrad };
}

/** Kernel time of one training step on the active backend, top kernels first (tf.profile). */
interface StepProfile {
  top: Array<{ kernel: string; ms: number }>;
  /** Kernel launches in one training step and in one inference forward pass. */
  stepKernels: number;
  forwardKernels: number;
}

async function profileStep(arch: string, top = 6): Promise<StepProfile> {
  const model = buildModel(arch, { inputShape: INPUT, numClasses: CLASSES, seed: 1 });
  const { x, y } = batchOf(BATCH, 3);
  const once = () => tf.dispose(modelGradients(model, lossFn, x, y).grads);
  once();
  // tf.profile reuses one info object per engine: read each result before the next profile.
  const stepKernels = [...(await tf.profile(() => void once())).kernels];
  const forwardKernels = (await tf.profile(() => tf.tidy(() => void (model.apply(x, { training: false }) as tf.Tensor).dataSync()))).kernels.length;
  const byKernel = new Map<string, number>();
  for (const k of stepKernels) byKernel.set(k.name, (byKernel.get(k.name) ?? 0) + Number(k.kernelTimeMs));
  tf.dispose([x, y]);
  model.dispose();
  return {
    top: [...byKernel.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([kernel, ms]) => ({ kernel, ms: r1(ms) })),
    stepKernels: stepKernels.length,
    forwardKernels,
  };
}

interface WorkerTiming {
  /** Median wall time of trainer.step on the main thread (ms). */
  stepMs: number;
  /** Means over the runs: CPU ms of each worker thread, and of the main thread per step. */
  workerCpuMs: number[];
  mainCpuMs: number;
}

async function measureWorkers(arch: string, workers: number, reps: number, wasmSpeedups = true): Promise<WorkerTiming> {
  const model = buildModel(arch, { inputShape: INPUT, numClasses: CLASSES, seed: 1 });
  const { x, y } = batchOf(BATCH, 3);
  const trainer = await createDataParallelTrainer({ model, optimizer: tf.train.adam(1e-3), loss: 'sparse-softmax-cross-entropy', workers, backend: 'wasm', wasmSpeedups, logger: log });
  try {
    await trainer.step(x, y);
    const wall: number[] = [];
    const main: number[] = [];
    const perWorker: number[][] = Array.from({ length: workers }, () => []);
    for (let i = 0; i < reps; i++) {
      const c0 = threadCpuMs();
      const t0 = performance.now();
      await trainer.step(x, y);
      wall.push(performance.now() - t0);
      main.push(threadCpuMs() - c0);
      trainer.stats().workerCpuMs.forEach((c, j) => perWorker[j]!.push(c));
    }
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    return { stepMs: median(wall), workerCpuMs: perWorker.map(mean), mainCpuMs: mean(main) };
  } finally {
    await trainer.close();
    tf.dispose([x, y]);
    model.dispose();
  }
}

/** The 3× goal for the LeNet pair against the reference, by wall time and by thread CPU time. */
function leverTable(rows: Array<LeverRow & { loop: string }>): string {
  return markdownTable(rows, [
    ['loop', (l) => l.loop],
    ['lever switched on', (l) => l.lever],
    ['wall before → after', (l) => `${l.beforeMs} → ${l.afterMs} (${l.speedup}×)`],
    ['thread CPU before → after', (l) => `${l.beforeCpuMs} → ${l.afterCpuMs} (${l.cpuSpeedup}×)`],
  ]);
}

/** All levers together: the ladder's first rung against its last, by thread CPU and by wall time. */
function ladderTotal(d: { levers: LeverRow[]; synthesisLevers?: LeverRow[] }): string {
  const total = (l: LeverRow[]) => (l.length ? `${l[0]!.beforeCpuMs} → ${l[l.length - 1]!.afterCpuMs} ms of CPU (${r2(l[0]!.beforeCpuMs / l[l.length - 1]!.afterCpuMs)}×), wall ${l[0]!.beforeMs} → ${l[l.length - 1]!.afterMs} ms (${r2(l[0]!.beforeMs / l[l.length - 1]!.afterMs)}×)` : 'not measured');
  return `All levers together: student step ${total(d.levers)}; synthesis per sample ${total(d.synthesisLevers ?? [])}.`;
}

function threeX(rows: Array<{ reference?: { studentStepMs: number; synthesisMsPerSample: number }; studentStepMs: number; studentStepCpuMs: number; synthesisMsPerSample: number; synthesisRoundCpuMs?: number; kernelCpu?: { totalCpuMs: number; kernelCpuMs: number; launches: number } }>): string {
  const d = rows.find((r) => r.reference);
  if (!d?.reference) return '';
  const steps = d.reference.studentStepMs / d.studentStepMs;
  const stepsCpu = d.reference.studentStepMs / d.studentStepCpuMs;
  const samples = d.reference.synthesisMsPerSample / d.synthesisMsPerSample;
  const samplesCpu = d.synthesisRoundCpuMs !== undefined ? d.reference.synthesisMsPerSample / (d.synthesisRoundCpuMs / 32) : Number.NaN;
  const ok = Math.min(steps, samples) >= 3;
  return `Goal: student steps/s and synthesis samples/s ≥ 3× the reference for the LeNet pair — **${ok ? 'met' : 'NOT met'}**: steps ${r2(steps)}× by wall time (${r2(stepsCpu)}× by thread CPU time), samples ${r2(samples)}× (${r2(samplesCpu)}×). The reference was measured on a quieter machine, so the same-run ladder above (first rung against last, by thread CPU) is the fairer measure of what the levers buy. ` +
    `What the step still spends its time on (the profile above, and a per-kernel CPU-time count): the convolutions, forward and both gradients, of teacher and student (the largest share, see the per-kernel count), on channel counts of 1-16 where XNNPACK runs far below its large-kernel rate; BatchNorm in training mode (batch moments, normalisation and their gradients: Sum, Mean, Sub, Mul passes over every activation); the first convolution\'s input gradient, which tfjs\'s fused conv2d computes eagerly although the input needs none; and the framework itself (${d.kernelCpu ? `${r1(d.kernelCpu.totalCpuMs - d.kernelCpu.kernelCpuMs)} ms of ${d.kernelCpu.totalCpuMs} ms per step outside ${d.kernelCpu.launches} kernel launches` : 'not measured'}: tape, layer graph, dispatch). ` +
    '3× would need the training step out of element-wise tfjs kernels: a fused Conv+BN+ReLU training kernel (forward and backward in one pass per layer, in wasm SIMD rather than JavaScript), the student\'s graph run without the layers/tape machinery, and convolution kernels tuned for few channels; or a native/GPU backend (bench/gpu-check).';
}

/** The last GPU run of bench/gpu-check (bench/results/gpu-check.json), or a plain statement that there is none. */
function gpuCheckSummary(): string {
  const path = new URL('./results/gpu-check.json', import.meta.url);
  if (!existsSync(path)) return '`bench/gpu-check` (cloud/compute/README.md) has **not been run on a GPU yet**: no GPU host was available; this benchmark measures the CPU backends only.';
  const r = JSON.parse(readFileSync(path, 'utf8')) as { backend: string; verdict: string; startedAt: string; gpu?: Record<string, number>; cpu?: Record<string, number> };
  return `\`bench/gpu-check\` on ${r.backend} (${r.startedAt}): ${r.verdict}; GPU ${JSON.stringify(r.gpu)}, wasm ${JSON.stringify(r.cpu)}.`;
}

const r1 = (v: number) => Math.round(v * 10) / 10;
const r2 = (v: number) => Math.round(v * 100) / 100;

type Measured = { forward: Timing | null; forwardTrain?: Timing | null; step: Timing; inputGrad: Timing | null };

async function main(): Promise<void> {
  const loadBefore = os.loadavg();
  const t0 = performance.now();
  const rows: Row[] = [];
  const stockRows: Array<{ model: string; stockCpuMs: number; fastCpuMs: number }> = [];
  const profiles: Record<string, StepProfile> = {};
  for (const arch of MODELS) {
    const macs = countMacs(buildModel(arch, { inputShape: INPUT, numClasses: CLASSES, seed: 1 }));
    const fwdFlops = 2 * macs * BATCH;
    const scaled = (t: Timing | null, k: number): Timing | null => (t ? { ms: t.ms * k, cpuMs: t.cpuMs * k } : null);
    const row = (backend: string, workers: number, measuredBatch: number, reps: number, m: Measured, extra: Partial<Row> = {}): Row => ({
      model: arch,
      backend,
      workers,
      batch: BATCH,
      measuredBatch,
      reps,
      forwardMs: m.forward ? r1(m.forward.ms) : null,
      stepMs: r1(m.step.ms),
      inputGradMs: m.inputGrad ? r1(m.inputGrad.ms) : null,
      forwardCpuMs: m.forward ? r1(m.forward.cpuMs) : null,
      forwardTrainMs: m.forwardTrain ? r1(m.forwardTrain.ms) : null,
      forwardTrainCpuMs: m.forwardTrain ? r1(m.forwardTrain.cpuMs) : null,
      stepCpuMs: Number.isFinite(m.step.cpuMs) ? r1(m.step.cpuMs) : null,
      inputGradCpuMs: m.inputGrad ? r1(m.inputGrad.cpuMs) : null,
      imagesPerSec: r1((BATCH / m.step.ms) * 1000),
      gflops: r2((3 * fwdFlops) / (m.step.ms * 1e6)),
      macsPerImage: macs,
      ...extra,
    });

    await initCompute({ backend: 'wasm', logger: log });
    const wasm = measureInProcess(arch, BATCH, REPS);
    rows.push(row('wasm', 0, BATCH, REPS, wasm));
    log.warn({ arch, ...wasm }, 'wasm in-process');
    profiles[arch] = await profileStep(arch);

    for (const workers of [1, 2]) {
      const w = await measureWorkers(arch, workers, REPS);
      const projected = Math.max(...w.workerCpuMs) + w.mainCpuMs;
      rows.push(
        row('wasm', workers, BATCH, REPS, { forward: null, step: { ms: w.stepMs, cpuMs: Number.NaN }, inputGrad: null }, {
          workerCpuMs: w.workerCpuMs.map(r1),
          mainCpuMs: r1(w.mainCpuMs),
          projectedStepMs: r1(projected),
        }),
      );
      log.warn({ arch, workers, ...w }, 'wasm workers');
    }
    {
      // One worker without the replacements of wasm-speedups.ts and batchnorm-gradients.ts:
      // what they buy, by worker CPU time.
      const stock = await measureWorkers(arch, 1, Math.max(3, REPS / 2), false);
      const fast = rows.find((r) => r.model === arch && r.workers === 1)!;
      stockRows.push({ model: arch, stockCpuMs: r1(stock.workerCpuMs[0]!), fastCpuMs: fast.workerCpuMs![0]! });
    }

    await initCompute({ backend: 'cpu', logger: log });
    const cpu = measureInProcess(arch, CPU_BATCH, 1);
    const k = BATCH / CPU_BATCH;
    rows.push(row('cpu', 0, CPU_BATCH, 1, { forward: scaled(cpu.forward, k), forwardTrain: scaled(cpu.forwardTrain, k), step: scaled(cpu.step, k)!, inputGrad: scaled(cpu.inputGrad, k) }, { note: `measured at batch ${CPU_BATCH} (1 timed run after 1 warm-up), scaled ×${k}` }));
    log.warn({ arch, ...cpu, scale: k }, 'cpu (unscaled)');
    await initCompute({ backend: 'wasm', logger: log });
  }
  // ── roofline and the distillation loops (LeNet and resnet8 pairs) ──
  await initCompute({ backend: 'wasm', logger: log });
  const roof = roofline(quick ? 3 : 5);
  const peak = Math.max(...roof.map((r) => r.gflops));
  const distillInProcess = await measureDistill('wasm', peak, quick ? 3 : 6, true);
  const distillWorkers = await measureDistillWorkers(peak, quick ? 3 : 6);
  const distill = [...distillInProcess, ...distillWorkers];
  const w1 = distillWorkers.find((d) => d.workers === 1);
  const w2 = distillWorkers.find((d) => d.workers === 2);
  const twoWorkers = w1 && w2 ? { wall: r2(w1.studentStepMs / w2.studentStepMs), projected: r2(w1.projectedStepMs / w2.projectedStepMs) } : null;
  log.warn({ roof, distill }, 'roofline and distillation');
  const loadAfter = os.loadavg();

  // ── goals: each ratio by wall time (as measured) and by thread CPU time (robust to sharing) ──
  const goalRows = MODELS.map((arch) => {
    const find = (backend: string, workers: number) => rows.find((r) => r.model === arch && r.backend === backend && r.workers === workers)!;
    const w = find('wasm', 0);
    const c = find('cpu', 0);
    const w1 = find('wasm', 1);
    const w2 = find('wasm', 2);
    return {
      model: arch,
      stepOverForward: r2(w.stepMs / w.forwardMs!),
      stepOverForwardCpu: r2(w.stepCpuMs! / w.forwardCpuMs!),
      stepOverTrainForwardCpu: r2(w.stepCpuMs! / w.forwardTrainCpuMs!),
      inputGradOverForward: r2(w.inputGradMs! / w.forwardMs!),
      cpuOverWasm: Math.round(c.stepMs / w.stepMs),
      cpuOverWasmCpu: Math.round(c.stepCpuMs! / w.stepCpuMs!),
      twoOverOne: r2(w1.stepMs / w2.stepMs),
      twoOverOneProjected: r2(w1.projectedStepMs! / w2.projectedStepMs!),
      twoOverInProcessProjected: r2(w.stepCpuMs! / w2.projectedStepMs!),
      trainForwardOverForwardCpu: r2(w.forwardTrainCpuMs! / w.forwardCpuMs!),
      halfBatchWorkerShare: r2(Math.max(...w2.workerCpuMs!) / w1.workerCpuMs![0]!),
      mainCpuMs2: w2.mainCpuMs!,
      worker1CpuMs: w1.workerCpuMs![0]!,
      worker2CpuMs: Math.max(...w2.workerCpuMs!),
    };
  });
  const list = (pick: (g: (typeof goalRows)[number]) => number, unit = '×') => goalRows.map((g) => `${g.model} ${pick(g)}${unit}`).join(', ');
  const verdict = (ok: boolean) => (ok ? 'holds' : 'does not hold for every model');
  const verdicts = [
    `- Training step ≤ 4× forward (wasm): wall time **${verdict(goalRows.every((g) => g.stepOverForward <= 4))}** (${list((g) => g.stepOverForward)}); thread CPU time **${verdict(goalRows.every((g) => g.stepOverForwardCpu <= 4))}** (${list((g) => g.stepOverForwardCpu)}); against the training-mode forward (BatchNorm batch statistics), CPU time **${verdict(goalRows.every((g) => g.stepOverTrainForwardCpu <= 4))}** (${list((g) => g.stepOverTrainForwardCpu)}).`,
    `- wasm ≥ 100× faster than cpu per training step: wall time **${verdict(goalRows.every((g) => g.cpuOverWasm >= 100))}** (${list((g) => g.cpuOverWasm)}); CPU time **${verdict(goalRows.every((g) => g.cpuOverWasmCpu >= 100))}** (${list((g) => g.cpuOverWasmCpu)}).`,
    `- 2 workers ≥ 1.6× the throughput of 1: wall time **${verdict(goalRows.every((g) => g.twoOverOne >= 1.6))}** (${list((g) => g.twoOverOne)}); projected for one free core per thread from thread CPU times (max worker + main) **${verdict(goalRows.every((g) => g.twoOverOneProjected >= 1.6))}** (${list((g) => g.twoOverOneProjected)}).`,
  ];

  // What limits each goal, from this run's numbers.
  const per = (f: (g: (typeof goalRows)[number]) => string) => goalRows.map(f).join('; ');
  const limits = [
    `- Step vs forward: the training-mode forward alone (BatchNorm computing batch statistics) costs ${per((g) => `${g.model} ${g.trainForwardOverForwardCpu}×`)} the inference forward by CPU time, and a step launches many more, mostly element-wise, kernels than a forward (${Object.entries(profiles).map(([a, p]) => `${a} ${p.stepKernels} vs ${p.forwardKernels}`).join(', ')}): BatchNorm, ReLU6 (MobileNet: five element-wise kernels per activation in the backward pass), pooling and softmax gradients, each a full pass over an activation, plus per-launch dispatch cost that does not shrink with the model. The convolution gradients themselves run on XNNPACK at forward speed, except the stride-2 input gradients, which convolve a zero-dilated dy (4× the MACs of the forward layer).`,
    `- wasm vs cpu: the ratio follows the share of convolution work. ResNet-8 (mostly convolutions) trains ${goalRows.find((g) => g.model === 'resnet8')?.cpuOverWasmCpu ?? '?'}× faster by CPU time; where element-wise kernels dominate (MobileNet-tiny) wasm's advantage over tfjs's JavaScript loops is smaller.`,
    `- 2 workers: halving the batch does not halve a worker's CPU time: each of two workers needs ${per((g) => `${g.model} ${g.halfBatchWorkerShare}`)} of one worker's full-batch CPU time (${per((g) => `${g.worker2CpuMs.toFixed(0)} vs ${g.worker1CpuMs.toFixed(0)} ms`)}), because kernel dispatch, XNNPACK operator creation for the new weights and the per-step weight upload are per step, not per image; the main thread adds ${per((g) => `${g.model} ${g.mainCpuMs2} ms`)} for slicing, messaging and averaging. On this shared machine the wall-clock ratio is lower still, because the second worker does not get a free core (load average above).`,
  ];

  const table = markdownTable(rows, [
    ['model', (r) => r.model],
    ['backend', (r) => r.backend],
    ['workers', (r) => (r.workers === 0 ? 'in-process' : r.workers)],
    ['batch', (r) => (r.measuredBatch === r.batch ? r.batch : `${r.batch} (run at ${r.measuredBatch}, scaled)`)],
    ['forward ms (cpu ms)', (r) => (r.forwardMs === null ? '–' : `${r.forwardMs} (${r.forwardCpuMs})`)],
    ['training-mode forward ms (cpu ms)', (r) => (r.forwardTrainMs === null ? '–' : `${r.forwardTrainMs} (${r.forwardTrainCpuMs})`)],
    ['step ms (cpu ms)', (r) => (r.workers === 0 ? `${r.stepMs} (${r.stepCpuMs})` : `${r.stepMs} (workers ${r.workerCpuMs!.join(' / ')}, main ${r.mainCpuMs})`)],
    ['input-grad ms (cpu ms)', (r) => (r.inputGradMs === null ? '–' : `${r.inputGradMs} (${r.inputGradCpuMs})`)],
    ['images/s', (r) => r.imagesPerSec],
    ['step GFLOP/s', (r) => r.gflops],
    ['MMAC/image', (r) => r2(r.macsPerImage / 1e6)],
  ]);
  const goalsTable = markdownTable(goalRows, [
    ['model', (g) => g.model],
    ['step / forward, wall (cpu)', (g) => `${g.stepOverForward} (${g.stepOverForwardCpu})`],
    ['step / training-mode forward, cpu', (g) => g.stepOverTrainForwardCpu],
    ['input-grad / forward, wall', (g) => g.inputGradOverForward],
    ['cpu / wasm step, wall (cpu)', (g) => `${g.cpuOverWasm} (${g.cpuOverWasmCpu})`],
    ['2 workers / 1 worker, wall', (g) => g.twoOverOne],
    ['2 / 1, projected', (g) => g.twoOverOneProjected],
    ['2 workers / in-process, projected', (g) => g.twoOverInProcessProjected],
  ]);
  const stockTable = stockRows.length
    ? `\n\nEffect of the replaced Identity, Tile, Sum and Mean kernels (cloud/compute/wasm-speedups.ts) and BatchNorm/Mean gradients (cloud/compute/batchnorm-gradients.ts): worker-thread CPU ms per batch-${BATCH} step, one worker:\n\n${markdownTable(stockRows, [
        ['model', (s) => s.model],
        ["wasm's own kernels, tfjs gradients", (s) => s.stockCpuMs],
        ['with the replacements', (s) => s.fastCpuMs],
        ['speed-up', (s) => `${r2(s.stockCpuMs / s.fastCpuMs)}×`],
      ])}`
    : '';
  const profileText = Object.entries(profiles)
    .map(([arch, p]) => `- ${arch} (${p.stepKernels} kernel launches per step, ${p.forwardKernels} per forward): ${p.top.map((k) => `${k.kernel} ${k.ms}`).join(', ')}`)
    .join('\n');
  const markdown =
    `Batch ${BATCH}, input ${INPUT.join('×')}, ${CLASSES} classes, Adam, sparse softmax cross-entropy; medians of ${REPS} timed runs after one warm-up${quick ? ' (--quick)' : ''}. ` +
    `"in-process" runs on the main thread; 1 and 2 are data-parallel worker threads (cloud/compute/data-parallel-trainer.ts), whose step time is measured on the main thread and includes messaging. ` +
    `Each time is given as wall ms and, in parentheses, the CPU ms of the thread(s) doing the work (from /proc/thread-self/schedstat). ` +
    `Load average (1 min) ${r2(loadBefore[0]!)} before and ${r2(loadAfter[0]!)} after, on ${os.cpus().length} cores: with the machine shared, wall times include waiting for a core; CPU times do not. Rerun on a quiet machine for clean wall times.\n\n` +
    `${table}\n\n${flopsNote} cpu rows: measured on batch ${CPU_BATCH} and scaled linearly to ${BATCH} (its kernels are loops linear in the batch; the fixed per-op overhead this also scales makes cpu look slightly slower than it is at batch ${BATCH}).\n\n` +
    `### Goals\n\n${goalsTable}\n\n${verdicts.join('\n')}\n\n### What limits them\n\n${limits.join('\n')}\n\nWhere a wasm training step spends its time (tf.profile of one step, kernel ms, top 6; profiling adds overhead per kernel):\n\n${profileText}${stockTable}\n`;
  const distillText =
    `### Roofline and distillation\n\n` +
    `Sustained wasm throughput on large kernels (the roofline for this backend on this CPU, one thread): ${roof.map((r) => `${r.kernel} ${r.shape}: ${r.gflops} GFLOP/s (${r.ms} ms)`).join('; ')}.\n\n` +
    markdownTable(distill, [
      ['pair', (d) => d.pair],
      ['workers', (d) => ('projectedStepMs' in d ? `${d.workers} (worker threads)` : 'in-process')],
      ['student step ms (cpu ms)', (d) => `${d.studentStepMs} (${d.studentStepCpuMs})`],
      ['student steps/s', (d) => d.studentStepsPerSec],
      ['synthesis ms/sample (cpu ms)', (d) => (Number.isFinite(d.synthesisMsPerSample) ? `${d.synthesisMsPerSample} (${d.synthesisRoundCpuMs !== undefined ? r2(d.synthesisRoundCpuMs / 32) : '–'})` : '–')],
      ['synthesis samples/s', (d) => (Number.isFinite(d.synthesisSamplesPerSec) ? d.synthesisSamplesPerSec : '–')],
      ['step / roofline', (d) => `${(d.stepFractionOfRoofline * 100).toFixed(1)} %`],
      ['synthesis / roofline', (d) => (Number.isFinite(d.synthesisFractionOfRoofline) ? `${(d.synthesisFractionOfRoofline * 100).toFixed(1)} %` : '–')],
      ['vs reference, wall (cpu): steps, samples', (d) => (d.reference ? `${r2(d.reference.studentStepMs / d.studentStepMs)}× (${r2(d.reference.studentStepMs / d.studentStepCpuMs)}×), ${r2(d.reference.synthesisMsPerSample / d.synthesisMsPerSample)}× (${d.synthesisRoundCpuMs !== undefined ? r2(d.reference.synthesisMsPerSample / (d.synthesisRoundCpuMs / 32)) : '–'}×)` : '–')],
    ]) +
    `\n\nStudent step: teacher logits + student KD forward/backward/SGD on an augmented batch of ${128} (cloud/distill StudentTrainer); synthesis: one MetaSynthesizer round of 32 samples with 5 inner generator steps and the adversarial term. Reference (LeNet pair, full protocol, before this work): 66 ms per student step, 11.2 ms per synthesized sample (bench/results/distill-full.json). Where a student step spends its kernel time (tf.profile, wall ms): ${distill.filter((d) => d.top).map((d) => `${d.pair}: ${(d.top ?? []).map((k) => `${k.kernel} ${k.ms}`).join(', ')}`).join('; ')}. By thread CPU time per kernel (every kernel wrapped with a CPU timer, all levers on, mean of 3 steps): ${distill.filter((d) => d.kernelCpu).map((d) => `${d.pair}: ${d.kernelCpu!.totalCpuMs} ms per step, ${d.kernelCpu!.kernelCpuMs} ms inside ${d.kernelCpu!.launches} kernel launches (the rest is tfjs's engine, tape and layer graph); top: ${d.kernelCpu!.top.map((k) => `${k.kernel} ${k.cpuMs} (×${k.calls})`).join(', ')}`).join('; ')}.\n\n` +
    `Levers measured in this run, cumulative (each row switches one more on; every variant runs once per round, interleaved, so all share the load). Student step in ms per step, synthesis in ms per generated sample; medians of wall and of thread CPU over the rounds (LeNet: ${quick ? 9 : 18} rounds per step variant, ${quick ? 5 : 8} per synthesis variant; resnet8: ${quick ? 3 : 6} and ${quick ? 2 : 3}):\n\n` +
    distill.filter((d) => d.levers.length > 0).map((d) => `${d.pair}:\n\n${leverTable([...d.levers.map((l) => ({ ...l, loop: 'student step' })), ...(d.synthesisLevers ?? []).map((l) => ({ ...l, loop: 'synthesis' }))])}\n\n${ladderTotal(d)}`).join('\n\n') +
    `\n\n` +
    `${threeX(distillInProcess)}\n\n` +
    `Two workers on the resnet8 pair (goal ≥ 1.7× one worker's student steps/s): ${twoWorkers ? `wall ${twoWorkers.wall}×, projected for one free core per thread ${twoWorkers.projected}× (worker CPU ms ${w1!.workerCpuMs.join(' / ')} → ${w2!.workerCpuMs.join(' / ')}, main ${w1!.mainCpuMs} → ${w2!.mainCpuMs}; the teacher's logits are computed on the main thread)` : 'not measured'} — ${twoWorkers && twoWorkers.wall >= 1.7 ? 'met' : 'NOT met'}.\n\n` +
    `GPU: ${gpuCheckSummary()}\n`;
  const { jsonPath } = writeBenchReport({
    name: 'compute',
    command: `npm run bench:compute${quick ? ' -- --quick' : ''}`,
    rows,
    markdown: `${markdown}\n${distillText}`,
    extra: { quick, roofline: roof, distill, twoWorkersResnet8: twoWorkers, profiles, loadAvgBefore: loadBefore, loadAvgAfter: loadAfter, goals: goalRows, stockTileSum: stockRows, seconds: r1((performance.now() - t0) / 1000) },
  });
  console.log(markdown);
  console.log(distillText);
  console.log(`wrote ${jsonPath} in ${r1((performance.now() - t0) / 1000)} s`);
}

await main();
