/**
 * `node bin/run-ts.mjs bench/drift-adapt.ts --student-tfjs DIR[,DIR…] [--shifts noise,blur,brightness,contrast,occlusion] [--severity 3] [--quick] [--seed N] [--no-control] [--teacher DIR] [--report-name NAME]`
 *
 * The retrain loop of `npm run bench:drift` alone (no detector measurements), over several students
 * and every image shift, each row beside its control (the same retrain schedule with no field
 * information). Same split and seed as bench:drift: the test split is shuffled with the seed, the
 * first 4,000 images are the devices' field stream, the rest the evaluation pool. Writes
 * bench/results/drift-loops.json (`loops` rows) and the drift-loops section of BENCHMARKS.md after
 * every row, so a long run that is stopped keeps what it measured (`--report-name` writes
 * bench/results/NAME.json and the NAME section instead, e.g. one student per run).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseCommandArgs, numberFlag } from '../shared/cli/args';
import { loadFashionMnist } from '../cloud/data';
import { initCompute } from '../cloud/compute';
import { loadTeacher } from '../cloud/zoo';
import { merge, type DistillConfigInput } from '../cloud/distill/config';
import { parseJson } from '../shared/contracts/parse';
import { createRandom } from '../shared/random/seeded-random';
import type { ImageShiftKind } from '../shared/drift/shifts';
import { DEFAULT_LOOP_CONFIG, retrainSchedule, type LoopConfig } from './drift-loop';
import { LOOP_SHIFTS, loopsMarkdown, measureLoops } from './drift-loops';
import { writeBenchReport } from './report';

const HELP = 'node bin/run-ts.mjs bench/drift-adapt.ts --student-tfjs DIR[,DIR…] [--shifts noise,blur,brightness,contrast,occlusion] [--severity 3] [--quick] [--seed N] [--no-control] [--teacher DIR] [--report-name NAME]';
const PIXELS = 28 * 28;
const GEOMETRY = { height: 28, width: 28, channels: 1, range: [-1, 1] as const };

async function main(): Promise<number> {
  const { values, help } = parseCommandArgs(
    process.argv.slice(2),
    { 'student-tfjs': { type: 'string' }, shifts: { type: 'string' }, severity: { type: 'string' }, quick: { type: 'boolean' }, seed: { type: 'string' }, 'no-control': { type: 'boolean' }, teacher: { type: 'string' }, 'report-name': { type: 'string' } },
    HELP,
  );
  if (help) return 0;
  if (!values['student-tfjs']) throw new Error(`--student-tfjs is required\n${HELP}`);
  const students = values['student-tfjs'].split(',').map((s) => resolve(s));
  const shifts = (values.shifts ? values.shifts.split(',') : LOOP_SHIFTS) as ImageShiftKind[];
  const severity = numberFlag(values.severity, 'severity', 3);
  const seed = numberFlag(values.seed, 'seed', 20261128);
  const quick = Boolean(values.quick);
  const t0 = Date.now();
  const log = (m: string) => console.error(`[drift-adapt ${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}`);
  await initCompute({ backend: 'wasm' }).catch(async () => initCompute({ backend: 'cpu' }));
  const data = loadFashionMnist();
  const rnd = createRandom(seed);
  const order = Array.from({ length: data.test.count }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rnd.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const baselineIdx = order.slice(0, 4000);
  const poolIdx = order.slice(4000);
  const gather = (idx: number[]) => {
    const out = new Float32Array(idx.length * PIXELS);
    idx.forEach((j, i) => out.set(data.test.images.subarray(j * PIXELS, (j + 1) * PIXELS), i * PIXELS));
    return out;
  };
  const teacherDir = resolve(values.teacher ?? 'models/teachers/fashion-mnist-lenet5-bn');
  const teacher = await loadTeacher(teacherDir);
  const config = (studentDir: string): LoopConfig => ({
    ...DEFAULT_LOOP_CONFIG,
    retrain: { method: 'ssdkd', seed: seed % 100_000, config: merge<DistillConfigInput>(retrainSchedule(quick), trainSetSize(studentDir)) },
  });
  const command = `node bin/run-ts.mjs bench/drift-adapt.ts ${process.argv.slice(2).join(' ')}`.trimEnd();
  const write = (rows: Awaited<ReturnType<typeof measureLoops>>) =>
    writeBenchReport({
      name: values['report-name'] ?? 'drift-loops',
      command,
      rows,
      markdown: `Automatic loop per student and shift (severity ${severity}) with its control; ${quick ? 'quick' : 'full'} retrain schedule ${JSON.stringify(retrainSchedule(quick))}; seed ${seed}. After = the model the loop committed with the engine's default adaptation (field imitation: the deployed student re-distilled from the teacher on synthetic samples degraded by the degradation fitted from the reports' input statistics, when one is fitted; else the field BatchNorm re-estimation from the devices' layer sketches); control = the same schedule with no field information (warm-start continuation on the student's own buffer), one per student. Accuracies on the ${poolIdx.length}-image evaluation pool; the ${baselineIdx.length} field images are disjoint.\n\n${loopsMarkdown(rows)}`,
      extra: { loops: rows, quick, seed, severity, students, shifts },
    });
  const rows = await measureLoops({
    students,
    shifts,
    severity,
    teacher: { dir: teacherDir, model: teacher.model },
    config,
    pool: { images: gather(poolIdx), labels: Int32Array.from(poolIdx, (j) => data.test.labels[j]!) },
    field: { images: gather(baselineIdx), count: baselineIdx.length },
    geometry: GEOMETRY,
    seed,
    workDir: mkdtempSync(join(tmpdir(), 'edgekd-drift-adapt-')),
    control: !values['no-control'],
    log,
    onRow: write,
  });
  write(rows);
  log(`done; wrote bench/results/${values['report-name'] ?? 'drift-loops'}.json and BENCHMARKS.md`);
  return 0;
}

/** The distillation run's training-set size, which scales the retrain budget like the original's. */
function trainSetSize(dir: string): DistillConfigInput {
  const path = join(dir, 'run-record.json');
  if (!existsSync(path)) return {};
  const rec = parseJson(readFileSync(path), path, 'EDGEKD_INVALID_ARGUMENT') as { config?: { trainSetSize?: unknown } };
  return typeof rec.config?.trainSetSize === 'number' ? { trainSetSize: rec.config.trainSetSize } : {};
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
