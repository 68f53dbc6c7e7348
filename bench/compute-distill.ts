/**
 * The distillation half of `bench:compute`: the backend's roofline and the two hot loops of
 * data-free distillation, measured with the product's own classes.
 *
 * - Roofline: sustained GFLOP/s of one large MatMul (1024×1024×1024) and one large Conv2D
 *   (batch 64, 28×28, 64 → 64 channels, 3×3), the best the backend does on this CPU.
 * - Student step: teacher logits on an augmented buffer batch of 128 (inference) + the student's
 *   KD forward, backward and SGD update (`StudentTrainer.kdStep`), as in the full protocol.
 * - Synthesis: one `MetaSynthesizer.synthesize` round (batch 32, 5 inner generator steps,
 *   adversarial term against the student), reported per generated sample.
 * Each step's fraction of the roofline uses analytic FLOPs (2·MACs per image forward; a training
 * pass is 3× forward), so element-wise work is not counted.
 */
import * as tf from '@tensorflow/tfjs';
import { augmentBatch } from '../cloud/distill/augment';
import { augmentPixels } from '../cloud/distill/augment-pixels';
import { defaultConfig } from '../cloud/distill/config';
import { createRandom } from '../shared/random/seeded-random';
import { StudentTrainer, type StudentStepPaths } from '../cloud/distill/student-trainer';

import { MetaSynthesizer, type SynthesisPaths } from '../cloud/distill/synthesizer';
import { wrapTeacher } from '../cloud/distill/teacher';
import { buildModel, countMacs } from '../cloud/zoo';
import { convGradSwitches, createDataParallelTrainer, threadCpuMs, wasmSpeedupSwitches } from '../cloud/compute';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';

export interface RooflineRow {
  kernel: 'matmul' | 'conv2d';
  shape: string;
  gflops: number;
  ms: number;
}

export interface DistillRow {
  pair: string;
  teacher: string;
  student: string;
  backend: string;
  workers: number;
  studentStepMs: number;
  studentStepCpuMs: number;
  studentStepsPerSec: number;
  synthesisRoundMs: number;
  synthesisRoundCpuMs?: number;
  synthesisMsPerSample: number;
  synthesisSamplesPerSec: number;
  /** Achieved GFLOP/s of the student step over the better of the two roofline kernels. */
  stepFractionOfRoofline: number;
  synthesisFractionOfRoofline: number;
  /** The full-protocol reference of the LeNet pair, measured before this work (bench/results/distill-full.json). */
  reference?: { studentStepMs: number; synthesisMsPerSample: number };
  top?: Array<{ kernel: string; ms: number }>;
  /** Per-kernel thread CPU of the student step with every lever on (kernelCpuProfile). */
  kernelCpu?: ReturnType<typeof kernelCpuProfile>;
  /** Student-step levers, cumulative, measured interleaved in the same run: ms per step before and after each. */
  levers: LeverRow[];
  /** Synthesis levers, the same way: ms per generated sample before and after each. */
  synthesisLevers?: LeverRow[];
}

export const PAIRS = [
  { pair: 'lenet', teacher: 'lenet5-bn', student: 'lenet5-half', reference: { studentStepMs: 66, synthesisMsPerSample: 11.2 } },
  // The zoo has no larger teacher for resnet8: the pair is resnet8 → resnet8.
  { pair: 'resnet8', teacher: 'resnet8', student: 'resnet8' },
] as const;

const INPUT: [number, number, number] = [28, 28, 1];
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

function time(reps: number, f: () => void): { ms: number; cpuMs: number } {
  f();
  const wall: number[] = [];
  let cpu = 0;
  for (let i = 0; i < reps; i++) {
    const c0 = threadCpuMs();
    const t0 = performance.now();
    f();
    wall.push(performance.now() - t0);
    cpu += threadCpuMs() - c0;
  }
  return { ms: median(wall), cpuMs: cpu / reps };
}

export function roofline(reps: number): RooflineRow[] {
  const rows: RooflineRow[] = [];
  {
    const n = 1024;
    const a = tf.randomNormal([n, n]);
    const b = tf.randomNormal([n, n]);
    const t = time(reps, () => tf.tidy(() => void tf.matMul(a, b).dataSync()));
    rows.push({ kernel: 'matmul', shape: `${n}×${n}×${n}`, gflops: +((2 * n ** 3) / (t.ms * 1e6)).toFixed(2), ms: +t.ms.toFixed(2) });
    tf.dispose([a, b]);
  }
  {
    const x = tf.randomNormal([64, 28, 28, 64]) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 64, 64]) as tf.Tensor4D;
    const t = time(reps, () => tf.tidy(() => void tf.conv2d(x, w, 1, 'same').dataSync()));
    const flops = 2 * 64 * 28 * 28 * 64 * 64 * 9;
    rows.push({ kernel: 'conv2d', shape: '64×28×28×64 * 3×3×64×64', gflops: +(flops / (t.ms * 1e6)).toFixed(2), ms: +t.ms.toFixed(2) });
    tf.dispose([x, w]);
  }
  return rows;
}

/** One rung of the lever ladder: every lever up to this one switched on. */
interface StepVariant {
  lever: string;
  tensorAugment: boolean;
  channelBroadcast: boolean;
  batchNorm: boolean;
  denseGrad: boolean;
  paths: StudentStepPaths;
}

/** The student-step levers, cumulative, in the order they were added (the first rung is the state before any). */
const STEP_LADDER: StepVariant[] = [
  { lever: 'before (tensor augmentation, stock broadcast kernels, tensor KD loss, tensor SGD)', tensorAugment: true, channelBroadcast: false, batchNorm: false, denseGrad: false, paths: { kdLoss: 'tensor', update: 'tensor' } },
  { lever: 'augmentation on the host array (augment-pixels.ts)', tensorAugment: false, channelBroadcast: false, batchNorm: false, denseGrad: false, paths: { kdLoss: 'tensor', update: 'tensor' } },
  { lever: 'per-channel broadcast Add/Sub/Mul/Div kernels (wasm-speedups.ts)', tensorAugment: false, channelBroadcast: true, batchNorm: false, denseGrad: false, paths: { kdLoss: 'tensor', update: 'tensor' } },
  { lever: 'FusedBatchNorm as one per-channel affine pass (wasm-speedups.ts)', tensorAugment: false, channelBroadcast: true, batchNorm: true, denseGrad: false, paths: { kdLoss: 'tensor', update: 'tensor' } },
  { lever: 'input gradient of a whole-input convolution as one matrix product (conv-grad-kernels.ts)', tensorAugment: false, channelBroadcast: true, batchNorm: true, denseGrad: true, paths: { kdLoss: 'tensor', update: 'tensor' } },
  { lever: 'fused KD loss, closed-form gradient (losses.ts kdLossFused)', tensorAugment: false, channelBroadcast: true, batchNorm: true, denseGrad: true, paths: { kdLoss: 'fused', update: 'tensor' } },
  { lever: 'SGD update on the host (optimizers.ts)', tensorAugment: false, channelBroadcast: true, batchNorm: true, denseGrad: true, paths: { kdLoss: 'fused', update: 'host' } },
];

/** The synthesis levers, cumulative. */
const SYNTH_LADDER: Array<{ lever: string; channelBroadcast: boolean; batchNorm: boolean; denseGrad: boolean; paths: SynthesisPaths }> = [
  { lever: 'before (stock broadcast and BatchNorm kernels, tensor augmentation, tensor Adam)', channelBroadcast: false, batchNorm: false, denseGrad: false, paths: { augment: 'tensor', update: 'tensor' } },
  { lever: 'per-channel broadcast Add/Sub/Mul/Div kernels (wasm-speedups.ts)', channelBroadcast: true, batchNorm: false, denseGrad: false, paths: { augment: 'tensor', update: 'tensor' } },
  { lever: 'FusedBatchNorm as one per-channel affine pass (wasm-speedups.ts)', channelBroadcast: true, batchNorm: true, denseGrad: false, paths: { augment: 'tensor', update: 'tensor' } },
  { lever: 'input gradient of a whole-input convolution as one matrix product (conv-grad-kernels.ts)', channelBroadcast: true, batchNorm: true, denseGrad: true, paths: { augment: 'tensor', update: 'tensor' } },
  { lever: 'differentiable augmentation as one host op (augment-pixels.ts augmentBatchHost)', channelBroadcast: true, batchNorm: true, denseGrad: true, paths: { augment: 'host', update: 'tensor' } },
  { lever: 'Adam updates on the host (optimizers.ts)', channelBroadcast: true, batchNorm: true, denseGrad: true, paths: { augment: 'host', update: 'host' } },
];

export interface LeverRow {
  lever: string;
  beforeMs: number;
  afterMs: number;
  speedup: number;
  beforeCpuMs: number;
  afterCpuMs: number;
  cpuSpeedup: number;
}

/**
 * Runs every variant once per round, `rounds` times (one warm-up round first), so all variants
 * share the machine's load; returns each variant's median wall ms and median thread CPU ms
 * (medians: a garbage collection or a burst of cache contention lands in one round, not in the
 * comparison).
 */
function interleaved(rounds: number, variants: Array<() => void>): Array<{ ms: number; cpuMs: number }> {
  variants.forEach((f) => f());
  const wall = variants.map(() => [] as number[]);
  const cpu = variants.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    variants.forEach((f, i) => {
      const c0 = threadCpuMs();
      const t0 = performance.now();
      f();
      wall[i]!.push(performance.now() - t0);
      cpu[i]!.push(threadCpuMs() - c0);
    });
  }
  return variants.map((_, i) => ({ ms: median(wall[i]!), cpuMs: median(cpu[i]!) }));
}

function ladderRows(names: string[], t: Array<{ ms: number; cpuMs: number }>): LeverRow[] {
  return names.slice(1).map((lever, i) => ({
    lever,
    beforeMs: +t[i]!.ms.toFixed(1),
    afterMs: +t[i + 1]!.ms.toFixed(1),
    speedup: +(t[i]!.ms / t[i + 1]!.ms).toFixed(3),
    beforeCpuMs: +t[i]!.cpuMs.toFixed(1),
    afterCpuMs: +t[i + 1]!.cpuMs.toFixed(1),
    cpuSpeedup: +(t[i]!.cpuMs / t[i + 1]!.cpuMs).toFixed(3),
  }));
}

/**
 * Thread-CPU time per kernel: every kernel of the backend is wrapped with a `process.cpuUsage`
 * timer (outermost kernel only, so composed kernels are not counted twice) while `f` runs `reps`
 * times, then the original registrations are put back. Unlike tf.profile's wall times this is not
 * inflated by waiting for a core on a shared machine. Returns ms per run.
 */
export function kernelCpuProfile(backendName: string, reps: number, f: () => void): { totalCpuMs: number; kernelCpuMs: number; launches: number; top: Array<{ kernel: string; cpuMs: number; calls: number }> } {
  const acc = new Map<string, { ms: number; calls: number }>();
  let depth = 0;
  const originals = tf.getKernelsForBackend(backendName);
  for (const k of originals) {
    const inner = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, backendName);
    tf.registerKernel({
      ...k,
      kernelFunc: (args) => {
        if (depth > 0) return inner(args);
        depth++;
        const c = process.cpuUsage();
        try {
          return inner(args);
        } finally {
          depth--;
          const d = process.cpuUsage(c);
          const e = acc.get(k.kernelName) ?? { ms: 0, calls: 0 };
          e.ms += (d.user + d.system) / 1000;
          e.calls++;
          acc.set(k.kernelName, e);
        }
      },
    });
  }
  let totalCpuMs = 0;
  try {
    const c0 = threadCpuMs();
    for (let i = 0; i < reps; i++) f();
    totalCpuMs = (threadCpuMs() - c0) / reps;
  } finally {
    for (const k of originals) {
      tf.unregisterKernel(k.kernelName, backendName);
      tf.registerKernel(k);
    }
  }
  const entries = [...acc.entries()].map(([kernel, e]) => ({ kernel, cpuMs: +(e.ms / reps).toFixed(2), calls: +(e.calls / reps).toFixed(1) }));
  return {
    totalCpuMs: +totalCpuMs.toFixed(1),
    kernelCpuMs: +entries.reduce((a, e) => a + e.cpuMs, 0).toFixed(1),
    launches: +entries.reduce((a, e) => a + e.calls, 0).toFixed(0),
    top: entries.sort((a, b) => b.cpuMs - a.cpuMs).slice(0, 8),
  };
}

export async function measureDistill(backend: string, peakGflops: number, reps: number, profile: boolean, pairs: readonly string[] = PAIRS.map((p) => p.pair)): Promise<DistillRow[]> {
  const out: DistillRow[] = [];
  const cfg = defaultConfig;
  for (const p of PAIRS.filter((x) => pairs.includes(x.pair))) {
    const teacherModel = buildModel(p.teacher, { inputShape: INPUT, numClasses: 10, seed: 11 });
    const student = buildModel(p.student, { inputShape: INPUT, numClasses: 10, seed: 12 });
    const teacher = wrapTeacher(teacherModel);
    const rng = createRandom(5);
    const n = cfg.batchSize;
    const pixels = rng.normals(n * INPUT[0] * INPUT[1] * INPUT[2]).map((v) => Math.max(-1, Math.min(1, 0.5 * v)));
    const aug = cfg.augment;
    // One trainer per rung (each keeps its own optimiser state); all train the same student.
    const trainers = STEP_LADDER.map((v) => new StudentTrainer(student, cfg.kd, v.paths));
    const stepOf = (v: StepVariant, trainer: StudentTrainer) => () => {
      wasmSpeedupSwitches.channelBroadcast = v.channelBroadcast;
      wasmSpeedupSwitches.batchNorm = v.batchNorm;
      convGradSwitches.denseInputGradient = v.denseGrad;
      let x: tf.Tensor4D;
      if (v.tensorAugment) {
        const x0 = tf.tensor4d(pixels, [n, ...INPUT]);
        x = augmentBatch(x0, aug, -1, rng);
        x0.dispose();
      } else x = tf.tensor4d(augmentPixels(pixels, [n, ...INPUT], aug, -1, rng), [n, ...INPUT]);
      const tLogits = tf.tidy(() => teacher.logits(x));
      trainer.kdStep(x, tLogits);
      x.dispose();
      tLogits.dispose();
      wasmSpeedupSwitches.channelBroadcast = true;
      wasmSpeedupSwitches.batchNorm = true;
      convGradSwitches.denseInputGradient = true;
    };
    const steps = STEP_LADDER.map((v, i) => stepOf(v, trainers[i]!));
    // LeNet steps are cheap: more rounds there buy a steadier ladder for little time.
    const small = p.pair === 'lenet';
    const stepTimes = interleaved(small ? 3 * reps : reps, steps);
    const step = stepTimes[stepTimes.length - 1]!;
    const sb = cfg.synthesis.batchSize;
    const targets = Int32Array.from({ length: sb }, (_, i) => i % 10);
    const synths = SYNTH_LADDER.map((v) => new MetaSynthesizer(teacher, { nz: cfg.generator.nz, ngf: cfg.generator.ngf, outputShape: INPUT, range: { low: -1, high: 1 } }, cfg.synthesis as never, aug, rng, v.paths));
    const synthTimes = interleaved(small ? reps + 2 : Math.max(2, Math.ceil(reps / 2)), SYNTH_LADDER.map((v, i) => () => {
      wasmSpeedupSwitches.channelBroadcast = v.channelBroadcast;
      wasmSpeedupSwitches.batchNorm = v.batchNorm;
      convGradSwitches.denseInputGradient = v.denseGrad;
      synths[i]!.synthesize({ targets, student, phi: null });
      wasmSpeedupSwitches.channelBroadcast = true;
      wasmSpeedupSwitches.batchNorm = true;
      convGradSwitches.denseInputGradient = true;
    }));
    const round = synthTimes[synthTimes.length - 1]!;
    let top: DistillRow['top'];
    let kernelCpu: DistillRow['kernelCpu'];
    if (profile) {
      const prof = await tf.profile(() => void steps[steps.length - 1]!());
      const by = new Map<string, number>();
      for (const k of prof.kernels) by.set(k.name, (by.get(k.name) ?? 0) + Number(k.kernelTimeMs));
      top = [...by.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([kernel, ms]) => ({ kernel, ms: Math.round(ms * 10) / 10 }));
      kernelCpu = kernelCpuProfile(backend, 3, steps[steps.length - 1]!);
    }
    const tMacs = countMacs(teacherModel);
    const sMacs = countMacs(student);
    const stepFlops = n * (2 * tMacs + 3 * 2 * sMacs);
    // A synthesis inner step: generator forward/backward (not counted), teacher forward + input gradient (3×), student forward + input gradient (3×).
    const synthFlops = cfg.synthesis.gSteps * sb * 3 * 2 * (tMacs + sMacs) + sb * 2 * tMacs;
    out.push({
      pair: `${p.teacher} → ${p.student}`,
      teacher: p.teacher,
      student: p.student,
      backend,
      workers: 1,
      studentStepMs: +step.ms.toFixed(1),
      studentStepCpuMs: +step.cpuMs.toFixed(1),
      synthesisRoundCpuMs: +round.cpuMs.toFixed(1),
      studentStepsPerSec: +(1000 / step.ms).toFixed(2),
      synthesisRoundMs: +round.ms.toFixed(1),
      synthesisMsPerSample: +(round.ms / sb).toFixed(2),
      synthesisSamplesPerSec: +((1000 * sb) / round.ms).toFixed(1),
      stepFractionOfRoofline: +(stepFlops / (step.ms * 1e6) / peakGflops).toFixed(4),
      synthesisFractionOfRoofline: +(synthFlops / (round.ms * 1e6) / peakGflops).toFixed(4),
      ...('reference' in p ? { reference: p.reference } : {}),
      ...(top ? { top } : {}),
      ...(kernelCpu ? { kernelCpu } : {}),
      levers: ladderRows(STEP_LADDER.map((v) => v.lever), stepTimes),
      synthesisLevers: ladderRows(SYNTH_LADDER.map((v) => v.lever), synthTimes).map((l) => ({ ...l, beforeMs: +(l.beforeMs / sb).toFixed(2), afterMs: +(l.afterMs / sb).toFixed(2), beforeCpuMs: +(l.beforeCpuMs / sb).toFixed(2), afterCpuMs: +(l.afterCpuMs / sb).toFixed(2) })),
    });
    synths.forEach((s) => s.dispose());
    trainers.forEach((t) => t.dispose());
    teacherModel.dispose();
    student.dispose();
  }
  return out;
}

/**
 * The student step over data-parallel worker threads (1 and 2), the teacher's logits computed on
 * the main thread, the KD loss in the workers (cloud/distill/kd-loss.ts). Wall time per step,
 * and the step time projected for one free core per thread from thread CPU times
 * (max worker + main), because on a shared machine the second worker rarely gets a free core.
 */
export async function measureDistillWorkers(peakGflops: number, reps: number, pairs: readonly string[] = ['resnet8']): Promise<Array<DistillRow & { projectedStepMs: number; workerCpuMs: number[]; mainCpuMs: number }>> {
  const rows: Array<DistillRow & { projectedStepMs: number; workerCpuMs: number[]; mainCpuMs: number }> = [];
  const lossModule = resolve(fileURLToPath(import.meta.url), '../../cloud/distill/kd-loss.ts');
  for (const p of PAIRS.filter((x) => pairs.includes(x.pair))) {
    for (const workers of [1, 2]) {
      const teacherModel = buildModel(p.teacher, { inputShape: INPUT, numClasses: 10, seed: 11 });
      const student = buildModel(p.student, { inputShape: INPUT, numClasses: 10, seed: 12 });
      const teacher = wrapTeacher(teacherModel);
      const rng = createRandom(5);
      const n = defaultConfig.batchSize;
      const pixels = rng.normals(n * INPUT[0] * INPUT[1] * INPUT[2]).map((v) => Math.max(-1, Math.min(1, 0.5 * v)));
      const trainer = await createDataParallelTrainer({ model: student, optimizer: tf.train.momentum(defaultConfig.kd.lr, defaultConfig.kd.momentum), loss: { module: lossModule, exportName: 'kdLossDefaultTemperature' }, workers, backend: 'wasm' });
      try {
        const once = async () => {
          const x = tf.tensor4d(augmentPixels(pixels, [n, ...INPUT], defaultConfig.augment, -1, rng), [n, ...INPUT]);
          const t = tf.tidy(() => teacher.logits(x));
          await trainer.step(x, t);
          tf.dispose([x, t]);
        };
        await once();
        const wall: number[] = [];
        const main: number[] = [];
        const perWorker: number[][] = Array.from({ length: workers }, () => []);
        for (let i = 0; i < reps; i++) {
          const c0 = threadCpuMs();
          const t0 = performance.now();
          await once();
          wall.push(performance.now() - t0);
          main.push(threadCpuMs() - c0);
          trainer.stats().workerCpuMs.forEach((c, j) => perWorker[j]!.push(c));
        }
        const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
        const stepMs = median(wall);
        const workerCpuMs = perWorker.map(mean);
        const mainCpuMs = mean(main);
        const projectedStepMs = Math.max(...workerCpuMs) + mainCpuMs;
        const tMacs = countMacs(teacherModel);
        const sMacs = countMacs(student);
        rows.push({
          pair: `${p.teacher} → ${p.student}`, teacher: p.teacher, student: p.student, backend: 'wasm', workers,
          studentStepMs: +stepMs.toFixed(1), studentStepCpuMs: +(mainCpuMs + workerCpuMs.reduce((a, b) => a + b, 0)).toFixed(1), studentStepsPerSec: +(1000 / stepMs).toFixed(3),
          synthesisRoundMs: Number.NaN, synthesisMsPerSample: Number.NaN, synthesisSamplesPerSec: Number.NaN,
          stepFractionOfRoofline: +((n * (2 * tMacs + 6 * sMacs)) / (stepMs * 1e6) / peakGflops).toFixed(4), synthesisFractionOfRoofline: Number.NaN,
          levers: [], projectedStepMs: +projectedStepMs.toFixed(1), workerCpuMs: workerCpuMs.map((v) => +v.toFixed(1)), mainCpuMs: +mainCpuMs.toFixed(1),
        });
      } finally {
        await trainer.close();
        teacher.dispose();
        teacherModel.dispose();
        student.dispose();
      }
    }
  }
  return rows;
}
