/**
 * node bin/run-ts.mjs bench/distill-cifar10-cost.ts [--student resnet8-half,mobilenet-cifar]
 *
 * What one job of `bench:distill --dataset cifar10 --protocol cpu` costs here, measured with the
 * product's own loop: a short ssdkd run (`distillDataFree`) and a short real-data KD run
 * (`distillWithRealData`) on the CPU protocol's settings (batches, synthesis batch and inner steps,
 * budget, buffer), timed by this thread's CPU clock (`threadCpuMs`) so a shared, loaded machine
 * does not inflate them. The teacher is a ResNet-8 with seeded random weights: the cost of a step
 * does not depend on the weights. Inputs to the real-data run are random tensors in the normalised
 * range, labelled at random (timing only; no image is read). From the per-round and per-step costs
 * it projects the CPU protocol's hours per job, so the schedule's size is a measured choice.
 */
import * as tf from '@tensorflow/tfjs';
import { initCompute, threadCpuMs } from '../cloud/compute';
import { CIFAR10_NORMALIZATION, inputRange } from '../cloud/data/dataset-info';
import { synthesisRounds, resolveConfig } from '../cloud/distill/config';
import { distillDataFree } from '../cloud/distill/distill';
import { createTestEvaluator } from '../cloud/distill/evaluator';
import { distillWithRealData } from '../cloud/distill/real-data-baselines';
import { buildModel, countMacs } from '../cloud/zoo';
import { createRandom } from '../shared/random/seeded-random';
import { CIFAR10_TEACHER } from '../cloud/teacher/cifar10-teacher';
import { CIFAR10_CPU_STUDENTS, cifarCpuSchedule, isCifarCpuStudent } from './distill-cifar10-protocols';
import { markdownTable, writeBenchReport } from './report';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const students = opt('student')?.split(',') ?? Object.keys(CIFAR10_CPU_STUDENTS);
for (const s of students) if (!isCifarCpuStudent(s)) throw new Error(`--student: one of ${Object.keys(CIFAR10_CPU_STUDENTS).join(', ')}, got ${s}`);
await initCompute({ backend: 'wasm' });

const INPUT: [number, number, number] = [32, 32, 3];
const range = inputRange(CIFAR10_NORMALIZATION, 3);
const cpu = cifarCpuSchedule(false);
// The protocol's settings on a shorter run: 3 epochs (1 synthesis only), 3 rounds and 8 student steps per epoch.
const ROUNDS_PER_EPOCH = 3;
const probe = { ...cpu.config, epochs: 3, warmupEpochs: 1, kdStepsPerEpoch: 8, trainSetSize: Math.round((ROUNDS_PER_EPOCH * 3 * cpu.config.synthesis.batchSize) / (cpu.config.budget * 2)) };
const fullRounds = synthesisRounds(resolveConfig('ssdkd', cpu.config));
/** Student steps of one job of the student's own schedule (the cost sets it: see distill-cifar10-protocols.ts). */
const fullStepsOf = (arch: string) => {
  const c = cifarCpuSchedule(false, arch as keyof typeof CIFAR10_CPU_STUDENTS).config;
  return (c.epochs - c.warmupEpochs) * c.kdStepsPerEpoch;
};

interface CostRow {
  teacher: string;
  student: string;
  teacherMacs: number;
  studentMacs: number;
  /** CPU ms of one synthesis round with the student's adversarial term (batch 32, 5 inner steps). */
  synthesisRoundCpuMs: number;
  /** CPU ms of one ssdkd student step of 128 (buffer sample, augmentation, teacher logits, φ, KD step, priorities). */
  ssdkdStepCpuMs: number;
  /** Student steps of one job of this student's schedule. */
  studentSteps: number;
  /** CPU ms of one real-data KD step of 128 (batch gather, augmentation, teacher logits, KD step). */
  realKdStepCpuMs: number;
  /** CPU ms of scoring the protocol's validation slice once. */
  evalCpuMs: number;
  projectedSsdkdHours: number;
  projectedRealKdHours: number;
}

const rng = createRandom(7);
const fakeSplit = (n: number) => ({ provenance: 'real' as const, images: rng.normals(n * 32 * 32 * 3).map((v) => Math.max(range.low, Math.min(range.high, v))), labels: Int32Array.from({ length: n }, () => rng.int(10)), count: n, shape: INPUT });
const rows: CostRow[] = [];
for (const studentArch of students) {
  const teacher = buildModel(CIFAR10_TEACHER.arch, { inputShape: INPUT, numClasses: 10, seed: 11 });
  const student = buildModel(studentArch, { inputShape: INPUT, numClasses: 10, seed: 12 });
  const roundMs: number[] = [];
  const ssd = await distillDataFree({
    teacher, student, method: 'ssdkd', seed: 1, input: { range, flipInvariant: true }, config: probe, now: threadCpuMs,
    onEvent: (e) => {
      if (e.type === 'synthesis' && e.epoch >= probe.warmupEpochs) roundMs.push(e.seconds * 1000);
    },
  });
  const kdEpochs = ssd.history.filter((h) => h.epoch >= probe.warmupEpochs);
  const ssdkdStepCpuMs = (kdEpochs.reduce((s, h) => s + h.distillSeconds, 0) * 1000) / ssd.studentSteps;
  const synthesisRoundCpuMs = roundMs.reduce((a, b) => a + b, 0) / roundMs.length;
  const student2 = buildModel(studentArch, { inputShape: INPUT, numClasses: 10, seed: 12 });
  const real = await distillWithRealData({ teacher, student: student2, method: 'real-kd', seed: 1, train: fakeSplit(512), input: { range, flipInvariant: true }, config: { ...probe, warmupEpochs: 0, epochs: 2 }, now: threadCpuMs });
  const realKdStepCpuMs = (real.distillSeconds * 1000) / real.studentSteps;
  const evaluator = createTestEvaluator(fakeSplit(cpu.evalLimit));
  const e0 = threadCpuMs();
  evaluator.accuracy(student);
  const evalCpuMs = threadCpuMs() - e0;
  const hours = (ms: number) => Math.round((ms / 3.6e6) * 100) / 100;
  const evalTotal = cpu.config.epochs * evalCpuMs;
  rows.push({
    teacher: CIFAR10_TEACHER.arch, student: studentArch, teacherMacs: countMacs(teacher), studentMacs: countMacs(student),
    synthesisRoundCpuMs: Math.round(synthesisRoundCpuMs), ssdkdStepCpuMs: Math.round(ssdkdStepCpuMs), studentSteps: fullStepsOf(studentArch), realKdStepCpuMs: Math.round(realKdStepCpuMs), evalCpuMs: Math.round(evalCpuMs),
    projectedSsdkdHours: hours(fullRounds * synthesisRoundCpuMs + fullStepsOf(studentArch) * ssdkdStepCpuMs + evalTotal),
    projectedRealKdHours: hours(fullStepsOf(studentArch) * realKdStepCpuMs + evalTotal),
  });
  console.error(JSON.stringify(rows.at(-1)));
  tf.dispose([teacher, student, student2] as never);
}

const cmd = `node bin/run-ts.mjs bench/distill-cifar10-cost.ts${args.length ? ` ${args.join(' ')}` : ''}`;
const markdown = `
Per-step costs of \`bench:distill --dataset cifar10 --protocol cpu\`, by this thread's CPU time on the wasm backend (one thread), from a short run of the product's loop on the protocol's settings (teacher \`${CIFAR10_TEACHER.arch}\` with random weights: cost does not depend on them). Projection for one job of the schedule **${cpu.name}**: ${fullRounds} synthesis rounds of ${cpu.config.synthesis.batchSize} (ssdkd and \`fast-budget-eq\`), the student's own number of student steps of ${cpu.config.batchSize} (column), ${cpu.config.epochs} validation passes of ${cpu.evalLimit.toLocaleString('en-US')} images. CPU time, not wall time: on a shared machine a job's wall time is longer by the load.

${markdownTable(rows, [
  ['pair', (r) => `\`${r.teacher}\` → \`${r.student}\``],
  ['MACs teacher / student (M)', (r) => `${(r.teacherMacs / 1e6).toFixed(1)} / ${(r.studentMacs / 1e6).toFixed(1)}`],
  ['synthesis round (CPU ms)', (r) => r.synthesisRoundCpuMs],
  ['ssdkd student step (CPU ms)', (r) => r.ssdkdStepCpuMs],
  ['real-kd step (CPU ms)', (r) => r.realKdStepCpuMs],
  ['student steps per job', (r) => r.studentSteps],
  ['validation pass (CPU ms)', (r) => r.evalCpuMs],
  ['projected ssdkd job (CPU h)', (r) => r.projectedSsdkdHours],
  ['projected real-kd job (CPU h)', (r) => r.projectedRealKdHours],
])}
`;
writeBenchReport({ name: 'distill-cifar10-cost', command: cmd, rows, markdown, extra: { schedule: cpu, probe, fullRounds } });
console.log(markdown);
