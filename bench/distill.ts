/**
 * npm run bench:distill [-- --dataset fashion-mnist|mnist|cifar10] [--quick] [--tune] [--seeds N]
 *                          [--methods a,b] [--teacher DIR] [--parallel P] [--resume]
 *                          [--student ARCH] [--report-only] [--protocol cpu|paper]   (cifar10 only)
 *
 * Every distillation method on one official dataset: LeNet-5-BN teacher (trained on the official
 * training split minus validation) → a LeNet-5-BN student (chosen on validation; `--student`), the same teacher and the same student
 * initialisation per seed, each job in its own process (two at a time: one per core).
 *
 * Splits: every run is scored each epoch on the validation split (`bestValAccuracy`, curves). The
 * full protocol is a `report` run: `finalAccuracy` is the final student on the official test split,
 * read once at the end. `--quick` and `--tune` are tuning runs: they never see the test split and
 * their `finalAccuracy` is on validation. Settings are chosen on tuning runs only.
 *
 * CIFAR-10 (`--dataset cifar10`), one of two protocols (bench/distill-cifar10-protocols.ts).
 * `cpu` (default): the committed ResNet-8 teacher (models/teachers/cifar10-resnet8) → `resnet8-half`
 * (or `--student mobilenet-cifar`), methods ssdkd, fast-budget-eq, real-kd and student-real at the
 * same student steps, on a schedule sized from costs measured here (bench/distill-cifar10-cost.ts)
 * so that one method of one seed takes under an hour of one core. `paper`: the largest pair the zoo
 * allows (ResNet-20 → ResNet-8) on the published scale (200 epochs × 400 student steps of 256), for
 * a GPU host with the tensorflow backend and a ResNet-20 teacher (`--teacher DIR`); not run so far.
 * A missing teacher is EDGEKD_NOT_FOUND naming the command that trains it. Reports go to
 * bench/results/distill-cifar10[-paper][-STUDENT].json (STUDENT when not the protocol's default)
 * with the protocol recorded.
 *
 * Rows are appended to bench/results/distill[-full]-rows.jsonl as each job finishes; `--resume`
 * skips jobs whose row (same dataset, method, seed, purpose and settings) is already there, so a
 * 3-seed run can span sessions. The report (bench/results/distill[-full].json and its BENCHMARKS.md
 * section) is rebuilt from every row in that file.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, appendFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { EdgekdError } from '../shared/errors';
import { allMethods, resolveConfig, type DistillConfigInput, type DistillMethod } from '../cloud/distill/config';
import type { SynthesisStats } from '../cloud/distill/distill';
import { CIFAR10_TEACHER, requireFinishedTeacher } from '../cloud/teacher/cifar10-teacher';
import { CIFAR10_CPU_DEFAULT_STUDENT, CIFAR10_CPU_STUDENTS, CIFAR10_PAPER, cifarCpuSchedule, cifarPaperSchedule, isCifarCpuStudent, type BenchSchedule } from './distill-cifar10-protocols';
import { markdownTable, writeBenchReport } from './report';
import { pairedDifference, summarize, type Summary } from './seed-stats';
import type { WorkerJob } from './distill-worker';

interface Row {
  dataset: string;
  method: DistillMethod;
  seed: number;
  purpose: 'tune' | 'report';
  finalAccuracy: number;
  finalSplit: 'test' | 'validation';
  finalSamples: number;
  bestValAccuracy: number | null;
  teacherAccuracy: number;
  samplesGenerated: number;
  bufferCapacity: number;
  studentSteps: number;
  totalSeconds: number;
  synthesisSeconds: number;
  distillSeconds: number;
  synthesis: SynthesisStats | null;
  /** Identifies the settings the row was made with (resume skips only identical jobs). */
  jobKey: string;
}

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
if (flag('help')) {
  console.log(`npm run bench:distill -- [--dataset fashion-mnist|mnist|cifar10] [--quick] [--tune] [--seeds N] [--methods a,b]
       [--teacher DIR] [--student ARCH] [--parallel P] [--resume] [--report-only] [--protocol cpu|paper]

--dataset cifar10 --protocol cpu (default): teacher ${CIFAR10_TEACHER.dir} (${CIFAR10_TEACHER.arch}),
  student ${Object.keys(CIFAR10_CPU_STUDENTS).join(' (default) or ')}; one method of one seed under an hour of one core
  (costs: node bin/run-ts.mjs bench/distill-cifar10-cost.ts). Train the teacher with
  ${CIFAR10_TEACHER.command}
--dataset cifar10 --protocol paper: ${CIFAR10_PAPER.teacherArch} → ${CIFAR10_PAPER.studentArch}, 200 epochs × 400 steps of 256;
  needs a ${CIFAR10_PAPER.teacherArch} teacher (default ${CIFAR10_PAPER.teacherDir}, none committed:
  ${CIFAR10_PAPER.teacherCommand})
  and a GPU host (EDGEKD_BACKEND=tensorflow). Not run so far: no GPU host was available.`);
  process.exit(0);
}
const quick = flag('quick');
const purpose: 'tune' | 'report' = quick || flag('tune') ? 'tune' : 'report';
const dataset = opt('dataset') ?? 'fashion-mnist';
if (dataset !== 'fashion-mnist' && dataset !== 'mnist' && dataset !== 'cifar10') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--dataset must be fashion-mnist, mnist or cifar10 (official splits), got ${dataset}`);
const cifar = dataset === 'cifar10';
const protocol = opt('protocol') ?? (cifar ? 'cpu' : 'grey');
if (cifar ? protocol !== 'cpu' && protocol !== 'paper' : protocol !== 'grey') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--protocol is cpu or paper, and only for --dataset cifar10 (got ${opt('protocol')})`);
const root = resolve(import.meta.dirname, '..');
const teacherArch = !cifar ? 'lenet5-bn' : protocol === 'paper' ? CIFAR10_PAPER.teacherArch : CIFAR10_TEACHER.arch;
/**
 * Chosen on the validation split (bench:distill-ablations --study schedule, docs/decisions.md):
 * with real-data KD at 2,240 steps, lenet5-bn reaches about 2 points more than lenet5-half, whose
 * real-label ceiling (~86%) leaves no room for an 85% data-free goal.
 */
const GREY_STUDENT = 'lenet5-bn';
// Grey datasets: the student is chosen on the validation split (docs/decisions.md); --student overrides it.
const studentArch = opt('student') ?? (!cifar ? GREY_STUDENT : protocol === 'paper' ? CIFAR10_PAPER.studentArch : CIFAR10_CPU_DEFAULT_STUDENT);
if (cifar && protocol === 'cpu' && !isCifarCpuStudent(studentArch)) {
  throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--student for the cifar10 cpu protocol is one of ${Object.keys(CIFAR10_CPU_STUDENTS).join(', ')} (the schedule was sized for them), got ${studentArch}`);
}
const teacherDir = resolve(root, opt('teacher') ?? (!cifar ? `models/teachers/official-${dataset}-${teacherArch}` : protocol === 'paper' ? CIFAR10_PAPER.teacherDir : CIFAR10_TEACHER.dir));
const parallel = Number(opt('parallel') ?? 2);

/**
 * Schedules. Full: budget 10% of the 55,000-image training split (a synthetic set of 5,504
 * samples; `fast` keeps a bank of 55,008), 2,240 student steps of 128. Quick: the same ratios on a
 * nominal training set of 6,400 and a tenth of the student steps, sized for minutes.
 */
const greySchedule = quick
  ? {
      name: 'quick',
      seeds: [1],
      config: { epochs: 10, warmupEpochs: 1, kdStepsPerEpoch: 10, batchSize: 128, trainSetSize: 6_400, budget: 0.1, synthesis: { batchSize: 32 }, pixel: { batchSize: 64, steps: 8 } } satisfies DistillConfigInput,
      deepinvBudget: 0.25,
      evalLimit: 2_000,
    }
  : {
      name: 'full',
      seeds: [1, 2, 3],
      // 56 student epochs of 40 steps (2,240 steps of 128, about 5 passes of a 55,000-image set)
      // and KD temperature 4, chosen on validation (bench:distill-ablations --study schedule):
      // real-data KD's curve is flat over its last fifth at this length, and T 4 beat Fast-DFKD's 20.
      config: { epochs: 58, warmupEpochs: 2, kdStepsPerEpoch: 40, batchSize: 128, trainSetSize: 55_000, budget: 0.1, synthesis: { batchSize: 32 }, pixel: { batchSize: 64, steps: 10 }, kd: { temperature: 4 } } satisfies DistillConfigInput,
      deepinvBudget: 0.5,
      evalLimit: 5_000,
    };
const cifarSchedule: BenchSchedule = protocol === 'paper' ? cifarPaperSchedule() : cifarCpuSchedule(quick, isCifarCpuStudent(studentArch) ? studentArch : CIFAR10_CPU_DEFAULT_STUDENT);
const schedule: BenchSchedule = cifar ? cifarSchedule : greySchedule;
if (opt('seeds')) schedule.seeds = Array.from({ length: Number(opt('seeds')) }, (_, i) => i + 1);

// Longest jobs first so two workers finish together.
const order: DistillMethod[] = [
  'fast-own',
  'fast',
  'deepinv',
  'ssdkd',
  'ssdkd-no-modulation',
  'ssdkd-no-diversity',
  'ssdkd-no-difficulty',
  'ssdkd-no-priority',
  'ssdkd-priority-gen',
  'ssdkd-no-eviction',
  'fast-budget-eq',
  'fast-budget',
  'real-kd',
  'student-real',
  'noise',
];
// CIFAR-10 compares the method with its equal-budget ablation and the two real-data references.
const methods = (opt('methods')?.split(',') as DistillMethod[] | undefined) ?? (cifar ? (['ssdkd', 'fast-budget-eq', 'real-kd', 'student-real'] as DistillMethod[]) : order);
for (const m of methods) if (!(allMethods as readonly string[]).includes(m)) throw new Error(`unknown method ${m}`);
// A missing teacher (or, for CIFAR-10, a run still in progress) is EDGEKD_NOT_FOUND naming the command that trains it.
requireFinishedTeacher(teacherDir, !cifar ? `edgekd teacher train --dataset ${dataset} --arch ${teacherArch} …` : protocol === 'paper' ? CIFAR10_PAPER.teacherCommand : CIFAR10_TEACHER.command);

// A CIFAR-10 student other than the protocol's default gets its own report (its schedule differs).
const studentTag = cifar && studentArch !== (protocol === 'paper' ? CIFAR10_PAPER.studentArch : CIFAR10_CPU_DEFAULT_STUDENT) ? `-${studentArch}` : '';
const reportName = cifar
  ? `distill-cifar10${protocol === 'paper' ? '-paper' : ''}${studentTag}${quick ? '-quick' : purpose === 'tune' ? '-tune' : ''}`
  : quick
    ? 'distill'
    : purpose === 'tune'
      ? 'distill-tune'
      : 'distill-full';
const rowsPath = resolve(root, `bench/results/${reportName}-rows.jsonl`);
const readRows = (): Row[] => (existsSync(rowsPath) ? readFileSync(rowsPath, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Row) : []);

/**
 * Job order: the comparisons the protocol exists for first (ssdkd, its equal-work control and the
 * two real-data references, over every seed), then the other baselines and ablations. A protocol
 * that spans several sessions therefore has its paired headline rows before anything else.
 */
const firstMethods: DistillMethod[] = ['ssdkd', 'fast-budget-eq', 'real-kd', 'student-real'];
const rank = (m: DistillMethod) => (firstMethods.includes(m) ? 0 : 1);
const jobs: WorkerJob[] = [0, 1].flatMap((tier) =>
  schedule.seeds.flatMap((seed) =>
  methods.filter((m) => rank(m) === tier).map((method) => ({
    dataset,
    method,
    seed,
    teacherDir,
    studentArch,
    config: method === 'deepinv' ? { ...schedule.config, budget: schedule.deepinvBudget } : schedule.config,
    forceBudget: method === 'deepinv',
    evalLimit: schedule.evalLimit,
    purpose,
  })),
  ),
);
const keyOf = (j: WorkerJob) =>
  JSON.stringify({ d: j.dataset, m: j.method, s: j.seed, p: j.purpose, a: j.studentArch, c: j.config, t: j.teacherDir.replace(root, '.'), e: j.evalLimit });
const done = new Set(readRows().map((r) => r.jobKey));
// --report-only rebuilds the report from the rows already written (e.g. of a run stopped part-way).
const todo = flag('report-only') ? [] : jobs.filter((j) => !(flag('resume') && done.has(keyOf(j))));
if (!flag('resume') && !flag('report-only')) {
  // A fresh run replaces its own jobs' rows and keeps every other row (other datasets, methods, seeds).
  const fresh = new Set(jobs.map(keyOf));
  writeFileSync(rowsPath, readRows().filter((r) => !fresh.has(r.jobKey)).map((r) => JSON.stringify(r) + '\n').join(''));
}
console.error(flag('report-only') ? `report only: rebuilding from ${readRows().length} rows in ${rowsPath.replace(root + '/', '')}` : `${todo.length} of ${jobs.length} jobs to run (${jobs.length - todo.length} already in ${rowsPath.replace(root + '/', '')})`);

/**
 * A data-free job checkpoints every epoch under bench/results/.checkpoints/ (git-ignored: a buffer
 * is megabytes), in a folder named by a hash of its settings; with --resume a killed job continues
 * from its last epoch instead of starting over. Finished jobs remove their folder.
 */
const checkpointDirOf = (j: WorkerJob) => resolve(root, 'bench/results/.checkpoints', reportName, `${j.dataset}-${j.method}-s${j.seed}-${createHash('sha256').update(keyOf(j)).digest('hex').slice(0, 12)}`);
function runJob(job: WorkerJob): Promise<Row> {
  if (flag('resume')) job = { ...job, checkpointDir: checkpointDirOf(job) };
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [resolve(root, 'bin/run-ts.mjs'), resolve(root, 'bench/distill-worker.ts'), JSON.stringify(job)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EDGEKD_LOG_LEVEL: process.env.EDGEKD_LOG_LEVEL ?? 'warn' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      for (const line of String(d).split('\n')) if (line.trim() && !line.startsWith('{"level"')) console.error(`  ${line}`);
    });
    child.on('error', rej);
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code !== 0 || !line) return rej(new Error(`${job.dataset}/${job.method}/s${job.seed} exited ${code}`));
      res({ ...(JSON.parse(line.slice(7)) as Omit<Row, 'jobKey'>), jobKey: keyOf({ ...job, checkpointDir: undefined }) });
    });
  });
}

const started = Date.now();
const queue = [...todo];
await Promise.all(
  Array.from({ length: Math.max(1, parallel) }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const r = await runJob(job);
      appendFileSync(rowsPath, JSON.stringify(r) + '\n');
      console.error(`${r.dataset}/${r.method}/s${r.seed}: final (${r.finalSplit}) ${pct(r.finalAccuracy)} best val ${pct(r.bestValAccuracy)}, ${r.samplesGenerated} generated, buffer ${r.bufferCapacity}, ${r.studentSteps} steps, ${r.totalSeconds} s`);
    }
  }),
);
const wallMinutes = (Date.now() - started) / 60_000;

function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? 'n/a' : `${(x * 100).toFixed(2)}%`;
}
const f2 = (x: number) => x.toFixed(2);
// One row per job (the latest, should two runs of the same settings both have finished it).
const rows = [...new Map(readRows().map((r) => [r.jobKey, r])).values()].sort((a, b) => a.dataset.localeCompare(b.dataset) || order.indexOf(a.method) - order.indexOf(b.method) || a.seed - b.seed);
const datasets = [...new Set(rows.map((r) => r.dataset))];
const methodsOf = (d: string) => order.filter((m) => rows.some((r) => r.dataset === d && r.method === m));
const rowsOf = (d: string, m: DistillMethod) => rows.filter((r) => r.dataset === d && r.method === m);
const pctSummary = (xs: number[]): Summary => summarize(xs.map((x) => x * 100));

const summary = datasets.flatMap((d) => methodsOf(d).map((m) => ({ dataset: d, method: m, ...pctSummary(rowsOf(d, m).map((r) => r.finalAccuracy)) })));
const paired = datasets.flatMap((d) =>
  methodsOf(d)
    .filter((m) => m !== 'ssdkd' && rowsOf(d, 'ssdkd').length > 0)
    .map((m) => {
      const bySeed = (mm: DistillMethod) => new Map(rowsOf(d, mm).map((r) => [r.seed, r.finalAccuracy * 100]));
      const p = pairedDifference(bySeed('ssdkd'), bySeed(m));
      return { dataset: d, a: 'ssdkd' as const, b: m, meanDiff: p.meanDiff, ci95: p.ci95, n: p.n };
    }),
);
const synthesis = datasets.flatMap((d) =>
  methodsOf(d)
    .filter((m) => rowsOf(d, m).some((r) => r.synthesis))
    .map((m) => {
      const rs = rowsOf(d, m).filter((r) => r.synthesis);
      const sumHist = (k: 'labelHistogram' | 'targetHistogram') => rs[0]!.synthesis![k].map((_, c) => rs.reduce((s, r) => s + r.synthesis![k][c]!, 0));
      const labelHistogram = sumHist('labelHistogram');
      const targetHistogram = sumHist('targetHistogram');
      const maxDeviation = Math.max(...labelHistogram.map((l, c) => Math.abs(l / Math.max(1, targetHistogram[c]!) - 1)));
      return { dataset: d, method: m, teacherTargetCE: summarize(rs.map((r) => r.synthesis!.teacherTargetCE)).mean, targetHitRate: summarize(rs.map((r) => r.synthesis!.targetHitRate)).mean, labelHistogram, targetHistogram, maxDeviation, seeds: rs.length };
    }),
);

const sections = datasets.map((d) => {
  const ms = methodsOf(d);
  const first = rowsOf(d, ms[0]!)[0]!;
  const tableRows = ms.map((m) => {
    const rs = rowsOf(d, m);
    const s = pctSummary(rs.map((r) => r.finalAccuracy));
    const mean = (f: (r: Row) => number) => summarize(rs.map(f)).mean;
    return { m, s, bestVal: mean((r) => (r.bestValAccuracy ?? NaN) * 100), gen: mean((r) => r.samplesGenerated), cap: mean((r) => r.bufferCapacity), steps: mean((r) => r.studentSteps), secs: mean((r) => r.totalSeconds), synth: mean((r) => r.synthesisSeconds) };
  });
  const table = markdownTable(tableRows, [
    ['method', (t) => `\`${t.m}\``],
    [`final acc % on ${first.finalSplit} (mean ± sd)`, (t) => (t.s.n > 1 ? `${f2(t.s.mean)} ± ${f2(t.s.sd)}` : `${f2(t.s.mean)} (1 seed)`)],
    ['n', (t) => t.s.n],
    ['best val acc %', (t) => f2(t.bestVal)],
    ['samples generated', (t) => Math.round(t.gen)],
    ['buffer capacity', (t) => Math.round(t.cap)],
    ['student steps', (t) => Math.round(t.steps)],
    ['total s', (t) => t.secs.toFixed(0)],
    ['synthesis s', (t) => t.synth.toFixed(0)],
  ]);
  const pairedTable = markdownTable(
    paired.filter((p) => p.dataset === d),
    [
      ['ssdkd − …', (p) => `\`${p.b}\``],
      ['mean diff (pts)', (p) => (p.meanDiff >= 0 ? '+' : '') + f2(p.meanDiff)],
      ['95% paired t-interval', (p) => (p.ci95 ? `[${f2(p.ci95[0])}, ${f2(p.ci95[1])}]` : 'n/a (one seed)')],
      ['excludes 0?', (p) => (p.ci95 ? (p.ci95[0] > 0 || p.ci95[1] < 0 ? '**yes**' : 'no') : 'n/a')],
      ['seeds', (p) => p.n],
    ],
  );
  const synthTable = markdownTable(
    synthesis.filter((s) => s.dataset === d),
    [
      ['method', (s) => `\`${s.method}\``],
      ['teacher CE on targets (goal < 0.5)', (s) => s.teacherTargetCE.toFixed(2)],
      ['teacher top class = target', (s) => `${(s.targetHitRate * 100).toFixed(0)}%`],
      ['max per-class deviation of teacher labels from targets (goal ≤ 20%)', (s) => `${(s.maxDeviation * 100).toFixed(0)}%`],
      ['teacher label histogram', (s) => s.labelHistogram.join(' ')],
    ],
  );
  const eq = paired.find((p) => p.dataset === d && p.b === 'fast-budget-eq');
  const eqLine = eq
    ? eq.ci95 && eq.ci95[0] > 0
      ? `ssdkd beats \`fast-budget-eq\` (equal samples, equal buffer, equal student steps) by ${f2(eq.meanDiff)} pts, 95% interval [${f2(eq.ci95[0])}, ${f2(eq.ci95[1])}].`
      : eq.ci95 && eq.ci95[1] < 0
        ? `ssdkd does **not** beat \`fast-budget-eq\`: it is **worse** by ${f2(-eq.meanDiff)} pts, 95% interval of ssdkd − fast-budget-eq [${f2(eq.ci95[0])}, ${f2(eq.ci95[1])}].`
        : `ssdkd does **not** beat \`fast-budget-eq\` with an interval that excludes zero (mean difference ${f2(eq.meanDiff)} pts${eq.ci95 ? `, 95% interval [${f2(eq.ci95[0])}, ${f2(eq.ci95[1])}]` : ', one seed: no interval'}).`
    : '';
  // The protocol is every method of `order` on every seed of the schedule; fewer rows is a partial run.
  const expected = (cifar ? methods.length : order.length) * schedule.seeds.length;
  const doneHere = rows.filter((r) => r.dataset === d).length;
  const partial = purpose === 'report' && doneHere < expected ? `> **Partial (${doneHere} of ${expected} jobs of the protocol done): not the protocol's result.** Means, intervals and verdicts below cover only the finished rows; the run continues with the same command and \`--resume\`.\n\n` : '';
  return `### ${d} (teacher ${f2(first.teacherAccuracy * 100)}% on ${first.finalSplit})\n\n${partial}${table}\n\nPaired by seed, ssdkd minus each other method:\n\n${pairedTable}\n\n${eqLine}\n\nThe generator against its targets, over the last epoch's synthesis rounds (teacher on the returned, un-augmented images; histograms summed over seeds):\n\n${synthTable}`;
});

const cfg = schedule.config;
const cmdArgs = args.filter((a) => a !== '--report-only');
const cmd = `npm run bench:distill${cmdArgs.length ? ` -- ${cmdArgs.join(' ')}` : ''}`;
const ssdkdCfg = resolveConfig('ssdkd', cfg);
const markdown = `
Teacher \`${teacherArch}\` trained on the official training split minus the validation split, student \`${studentArch}\` (same initialisation per seed for every method)${cifar ? `, protocol **${protocol}**` : ''}, ${process.env.EDGEKD_BACKEND ?? 'wasm'} backend, ${parallel} job${parallel === 1 ? '' : 's'} at a time on a shared 2-core machine (seconds are noisy: compare within a run).
${purpose === 'report' ? '**Report run**: `final acc` is the final student on the official 10,000-image test split, read once after training; `best val` is the best epoch on the validation split (not used for selection).' : '**Tuning run**: scored on the validation split only (this process never loaded a reference to the test split); not a reported result.'}
Schedule **${schedule.name}**: ${cfg.epochs} epochs (${cfg.warmupEpochs} synthesis-only), ${cfg.kdStepsPerEpoch} student steps of ${cfg.batchSize} per epoch, KD temperature ${ssdkdCfg.kd.temperature}, student learning rate ${ssdkdCfg.kd.lr} (cosine), synthesis batches of ${cfg.synthesis.batchSize} with ${ssdkdCfg.synthesis.gSteps} inner steps; nominal training set ${cfg.trainSetSize.toLocaleString('en-US')}, budget ${cfg.budget}. \`fast\` keeps a bank of the whole nominal set on the same student steps (the equal-time comparison); \`fast-own\` is the same bank with student steps scaled by bank/buffer so each bank sample is replayed as often as a buffer slot; \`fast-budget\` fills the budget once; \`fast-budget-eq\` generates as many samples as ssdkd (×${ssdkdCfg.buffer.generationFactor}) into the same buffer size, first-in first-out, uniform sampling, no φ. Every row reports samples generated, student steps and seconds. Means over seeds; ± is the sample standard deviation; intervals are paired t-intervals over seeds. ${rows.length} rows${todo.length < jobs.length ? ' (some carried over with --resume)' : ''}; this invocation ran ${todo.length} jobs in ${wallMinutes.toFixed(1)} min.
${quick ? '\nThe quick schedule is a smoke-scale run; its numbers say nothing about the full protocol.\n' : ''}
${sections.join('\n\n')}
`;

writeBenchReport({ name: reportName, command: cmd, rows, markdown, extra: { schedule, purpose, summary, paired, synthesis, wallMinutes, ...(cifar ? { protocol: { name: protocol, teacherArch, studentArch, methods } } : {}) } });
console.log(markdown);
