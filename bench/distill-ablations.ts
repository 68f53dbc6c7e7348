/**
 * npm run bench:distill-ablations [-- --study levers|schedule] [--variants a,b] [--seeds N] [--schedule quick|tune|full] [--resume]
 *
 * Two studies, both on the VALIDATION split (tuning runs; the test split is never loaded).
 *
 * `levers` (default): lever-by-lever diagnosis of ssdkd against its equal-work control on the VALIDATION split (tuning
 * runs: the test split is never loaded). Each variant is a method plus a configuration override of
 * the knobs that separate ssdkd from `fast-budget-eq` (priority sampling and its importance weights,
 * φ in synthesis / insertion / KD, ordered partial insertion, balanced eviction, balanced targets,
 * the student's learning rate). Every variant runs on the same seeds, teacher and student
 * initialisation, so differences are paired by seed.
 *
 * `schedule`: the student's schedule and loss (student steps, learning rate, temperature, and the
 * student architecture) for the full protocol, read from real-data KD's validation curve: the
 * column `last-fifth rise` is the validation accuracy at the end minus at 80% of the epochs (flat =
 * converged), next to student-real (the student on real labels) as the ceiling.
 *
 * Schedules: `quick` is bench:distill's quick schedule (90 student steps); `tune` is a longer one
 * (300 steps) to check that a lever's effect survives more training.
 *
 * Rows are appended to bench/results/distill-ablations-rows.jsonl as each job ends; `--resume`
 * skips a (variant, schedule, seed) whose settings are unchanged. The report
 * (bench/results/distill-ablations.json, BENCHMARKS.md section distill-ablations) is rebuilt from
 * every row.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DistillConfigInput, DistillMethod } from '../cloud/distill/config';
import { markdownTable, writeBenchReport } from './report';
import { pairedDifference, summarize } from './seed-stats';
import type { WorkerJob } from './distill-worker';

interface Variant {
  name: string;
  method: DistillMethod;
  override: DistillConfigInput;
  what: string;
  student?: string;
}

const leverVariants: Variant[] = [
  { name: 'ssdkd', method: 'ssdkd', override: {}, what: 'the method as configured' },
  { name: 'fast-budget-eq', method: 'fast-budget-eq', override: {}, what: 'equal-work control: FIFO buffer, uniform sampling, no φ' },
  { name: 'no-modulation', method: 'ssdkd-no-modulation', override: {}, what: 'no φ anywhere (synthesis, insertion order, KD, targets)' },
  { name: 'no-phi-synthesis', method: 'ssdkd', override: { modulation: { inSynthesis: false } }, what: 'φ does not weight the synthesis losses' },
  { name: 'no-phi-insertion', method: 'ssdkd', override: { modulation: { inInsertion: false }, buffer: { ordered: false } }, what: 'insertion not ordered by φ' },
  { name: 'no-phi-kd', method: 'ssdkd', override: { modulation: { inKd: false } }, what: 'φ does not weight the KD loss' },
  { name: 'uniform-targets', method: 'ssdkd', override: { modulation: { balancedTargets: false } }, what: 'synthesis targets uniform' },
  { name: 'insert-all', method: 'ssdkd', override: { buffer: { insertFraction: 1 } }, what: 'whole batch offered (no top-75% cut)' },
  { name: 'no-diversity', method: 'ssdkd-no-diversity', override: {}, what: "φ without its class-balance term" },
  { name: 'no-difficulty', method: 'ssdkd-no-difficulty', override: {}, what: "φ without its difficulty term" },
  { name: 'is-mean', method: 'ssdkd', override: { buffer: { importanceNorm: 'mean' } }, what: 'importance weights scaled to mean 1 instead of max 1' },
  { name: 'is-off', method: 'ssdkd', override: { buffer: { importanceNorm: 'off' } }, what: 'priority sampling without importance weights' },
  { name: 'no-priority', method: 'ssdkd-no-priority', override: {}, what: 'uniform sampling (δ off)' },
  { name: 'global-eviction', method: 'ssdkd', override: { buffer: { balanced: false } }, what: 'evict the globally lowest priority, not within the largest class' },
  { name: 'no-eviction', method: 'ssdkd-no-eviction', override: {}, what: 'a full buffer drops new samples' },
];

/** Student schedules on the full protocol's shape (40 steps of 128 per epoch, 2 epochs synthesis-only). */
const steps = (kdEpochs: number): DistillConfigInput => ({ epochs: kdEpochs + 2 });
const scheduleVariants: Variant[] = [
  { name: 'half-1120', method: 'real-kd', student: 'lenet5-half', override: {}, what: 'lenet5-half, 1,120 steps, lr 0.1, T 20 (the protocol before)' },
  { name: 'half-2240', method: 'real-kd', student: 'lenet5-half', override: steps(56), what: 'lenet5-half, 2,240 steps, lr 0.1, T 20' },
  { name: 'half-2240-t4', method: 'real-kd', student: 'lenet5-half', override: { ...steps(56), kd: { temperature: 4 } }, what: 'lenet5-half, 2,240 steps, lr 0.1, T 4' },
  { name: 'bn-1120', method: 'real-kd', student: 'lenet5-bn', override: {}, what: 'lenet5-bn, 1,120 steps, lr 0.1, T 20' },
  { name: 'bn-2240', method: 'real-kd', student: 'lenet5-bn', override: steps(56), what: 'lenet5-bn, 2,240 steps, lr 0.1, T 20' },
  { name: 'bn-2240-t4', method: 'real-kd', student: 'lenet5-bn', override: { ...steps(56), kd: { temperature: 4 } }, what: 'lenet5-bn, 2,240 steps, lr 0.1, T 4' },
  { name: 'bn-2240-lr05', method: 'real-kd', student: 'lenet5-bn', override: { ...steps(56), kd: { lr: 0.05 } }, what: 'lenet5-bn, 2,240 steps, lr 0.05, T 20' },
  { name: 'bn-4480', method: 'real-kd', student: 'lenet5-bn', override: steps(112), what: 'lenet5-bn, 4,480 steps, lr 0.1, T 20' },
  { name: 'bn-real-2240', method: 'student-real', student: 'lenet5-bn', override: steps(56), what: 'lenet5-bn on real labels, 2,240 steps, lr 0.1' },
  { name: 'half-real-2240', method: 'student-real', student: 'lenet5-half', override: steps(56), what: 'lenet5-half on real labels, 2,240 steps, lr 0.1' },
];

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const root = resolve(import.meta.dirname, '..');
const dataset = 'fashion-mnist';
const teacherDir = resolve(root, `models/teachers/official-${dataset}-lenet5-bn`);
const study = opt('study') ?? 'levers';
if (study !== 'levers' && study !== 'schedule') throw new Error('--study is levers or schedule');
const variants = study === 'levers' ? leverVariants : scheduleVariants;
const scheduleName = opt('schedule') ?? (study === 'levers' ? 'quick' : 'full');
const schedules: Record<string, DistillConfigInput> = {
  quick: { epochs: 10, warmupEpochs: 1, kdStepsPerEpoch: 10, batchSize: 128, trainSetSize: 6_400, budget: 0.1, synthesis: { batchSize: 32 }, pixel: { batchSize: 64, steps: 8 } },
  tune: { epochs: 16, warmupEpochs: 1, kdStepsPerEpoch: 20, batchSize: 128, trainSetSize: 12_800, budget: 0.1, synthesis: { batchSize: 32 }, pixel: { batchSize: 64, steps: 8 } },
  full: { epochs: 30, warmupEpochs: 2, kdStepsPerEpoch: 40, batchSize: 128, trainSetSize: 55_000, budget: 0.1, synthesis: { batchSize: 32 }, pixel: { batchSize: 64, steps: 10 } },
};
const base = schedules[scheduleName];
if (!base) throw new Error(`--schedule is ${Object.keys(schedules).join(' or ')}`);
const seeds = Array.from({ length: Number(opt('seeds') ?? 2) }, (_, i) => i + 1);
const chosen = opt('variants')?.split(',') ?? variants.map((v) => v.name);
for (const n of chosen) if (!variants.some((v) => v.name === n)) throw new Error(`unknown variant ${n}; known: ${variants.map((v) => v.name).join(', ')}`);

interface Row {
  study?: string;
  variant: string;
  schedule: string;
  seed: number;
  method: DistillMethod;
  finalAccuracy: number;
  bestValAccuracy: number | null;
  studentSteps: number;
  samplesGenerated: number;
  totalSeconds: number;
  kdWeightMeanByEpoch?: Array<number | null>;
  valAccuracyByEpoch?: Array<number | null>;
  synthesis: { teacherTargetCE: number } | null;
  jobKey: string;
}

const rowsPath = resolve(root, 'bench/results/distill-ablations-rows.jsonl');
const readRows = (): Row[] => (existsSync(rowsPath) ? readFileSync(rowsPath, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Row) : []);

const mergeDeep = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object' ? mergeDeep(out[k] as Record<string, unknown>, v as Record<string, unknown>) : v;
  return out;
};
const jobsOf = (v: Variant) =>
  seeds.map((seed) => {
    const job: WorkerJob = { dataset, method: v.method, seed, teacherDir, studentArch: v.student ?? 'lenet5-half', config: mergeDeep(base as Record<string, unknown>, v.override as Record<string, unknown>) as DistillConfigInput, forceBudget: false, evalLimit: 2_000, purpose: 'tune' };
    return { v, job, key: JSON.stringify(study === 'levers' ? { v: v.name, s: scheduleName, seed, m: v.method, c: job.config } : { st: study, v: v.name, s: scheduleName, seed, m: v.method, a: job.studentArch, c: job.config }) };
  });
const done = new Set(readRows().map((r) => r.jobKey));
// Seed-major: every variant's first seed before any second seed, so a cut-short run still compares them all.
const todo = variants
  .filter((v) => chosen.includes(v.name))
  .flatMap(jobsOf)
  .sort((a, b) => a.job.seed - b.job.seed)
  .filter((j) => !(flag('resume') && done.has(j.key)));
console.error(`${todo.length} jobs to run`);

function runJob(job: WorkerJob): Promise<Record<string, unknown>> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [resolve(root, 'bin/run-ts.mjs'), resolve(root, 'bench/distill-worker.ts'), JSON.stringify(job)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EDGEKD_LOG_LEVEL: 'warn' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => process.stderr.write(d));
    child.on('error', rej);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code !== 0 || !line) return rej(new Error(`${job.method}/s${job.seed} exited ${code}`));
      res(JSON.parse(line.slice(7)) as Record<string, unknown>);
    });
  });
}

for (const { v, job, key } of todo) {
  const r = await runJob(job);
  const row = { ...r, study, variant: v.name, schedule: scheduleName, studentArch: job.studentArch, jobKey: key } as unknown as Row;
  appendFileSync(rowsPath, JSON.stringify(row) + '\n');
  console.error(`${v.name}/${scheduleName}/s${job.seed}: ${(row.finalAccuracy * 100).toFixed(2)}% (validation)`);
}

// Report: the latest row per (variant, schedule, seed).
const latest = new Map<string, Row>();
for (const r of readRows()) latest.set(`${r.study ?? 'levers'}|${r.variant}|${r.schedule}|${r.seed}`, r);
const rows = [...latest.values()];
const studies = [
  { id: 'levers', title: 'Levers: ssdkd against its equal-work control', vs: leverVariants },
  { id: 'schedule', title: 'Student schedule, loss and architecture: real-data KD (and the student on real labels)', vs: scheduleVariants },
];
const sections = studies.flatMap(({ id, title, vs }) =>
  Object.keys(schedules)
  .filter((s) => rows.some((r) => (r.study ?? 'levers') === id && r.schedule === s))
  .map((s) => {
    const mine = rows.filter((r) => (r.study ?? 'levers') === id && r.schedule === s);
    const of = (name: string) => new Map(mine.filter((r) => r.variant === name).map((r) => [r.seed, r.finalAccuracy * 100]));
    const present = vs.filter((v) => of(v.name).size > 0);
    const mean = (xs: Array<number | null | undefined>) => {
      const ys = xs.filter((x): x is number => typeof x === 'number');
      return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : NaN;
    };
    const table = markdownTable(present, [
      ['variant', (v) => `\`${v.name}\``],
      ['what changes', (v) => v.what],
      ['val acc % (mean ± sd)', (v) => {
        const sm = summarize([...of(v.name).values()]);
        return `${sm.mean.toFixed(2)} ± ${sm.sd.toFixed(2)}`;
      }],
      ['n', (v) => of(v.name).size],
      ...(id === 'levers'
        ? ([
            ['mean KD weight (last epoch)', (v) => mean(mine.filter((r) => r.variant === v.name).map((r) => r.kdWeightMeanByEpoch?.at(-1))).toFixed(2)],
            ['− ssdkd (pts, 95% paired CI)', (v) => diff(of(v.name), of('ssdkd'))],
            ['− fast-budget-eq (pts, 95% paired CI)', (v) => diff(of(v.name), of('fast-budget-eq'))],
          ] as Array<[string, (v: Variant) => string]>)
        : ([
            ['student steps', (v) => String(mine.find((r) => r.variant === v.name)?.studentSteps ?? '')],
            ['last-fifth rise (pts, mean)', (v) => mean(mine.filter((r) => r.variant === v.name).map((r) => lastFifthRise(r.valAccuracyByEpoch ?? []))).toFixed(2)],
            ['seconds (mean)', (v) => mean(mine.filter((r) => r.variant === v.name).map((r) => r.totalSeconds)).toFixed(0)],
          ] as Array<[string, (v: Variant) => string]>)),
    ]);
    const sched = schedules[s]!;
    return `### ${title}; schedule \`${s}\`: ${sched.epochs} epochs (${sched.warmupEpochs} synthesis-only) × ${sched.kdStepsPerEpoch} student steps of ${sched.batchSize}, nominal training set ${sched.trainSetSize}, budget ${sched.budget} (a variant may change epochs)\n\n${table}`;
  }),
);
/** Validation accuracy (2,000 images) at the last epoch minus at 80% of the scored epochs, in points. */
function lastFifthRise(curve: Array<number | null>): number {
  const xs = curve.filter((x): x is number => typeof x === 'number');
  if (xs.length < 5) return NaN;
  return (xs.at(-1)! - xs[Math.floor(xs.length * 0.8) - 1]!) * 100;
}
function diff(a: Map<number, number>, b: Map<number, number>): string {
  if (!a.size || !b.size) return 'n/a';
  const p = pairedDifference(a, b);
  return `${p.meanDiff >= 0 ? '+' : ''}${p.meanDiff.toFixed(2)}${p.ci95 ? ` [${p.ci95[0].toFixed(2)}, ${p.ci95[1].toFixed(2)}]` : ''}`;
}
const markdown = `
**Tuning runs** on official Fashion-MNIST: LeNet-5-BN teacher → LeNet-5-half, scored on 2,000 validation images each epoch and on the 5,000-image validation split at the end (the column shown); the test split is never loaded. One job at a time on the shared 2-core machine. Differences are paired by seed (same teacher, same student initialisation); intervals are t-intervals over seeds (with 2 seeds they are wide).

${sections.join('\n\n')}
`;
// The report is rebuilt from rows of several invocations (one per study, seeds added with --resume),
// so it names the invocations that make every row rather than the last one alone.
const command = 'npm run bench:distill-ablations -- --seeds 3 --resume` (levers; `--variants …` to run a subset) and `npm run bench:distill-ablations -- --study schedule --seeds 1 --resume';
writeBenchReport({ name: 'distill-ablations', command, rows, markdown, extra: { leverVariants, scheduleVariants, schedules, lastInvocation: args } });
console.log(markdown);
