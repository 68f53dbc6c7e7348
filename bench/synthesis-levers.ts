/**
 * npm run bench:levers [-- --dataset fashion-mnist|mnist] [--variants a,b] [--seed S] [--rounds-scale K]
 *
 * Short ssdkd runs, one per lever setting, to find what makes the generator hit its targets: the
 * teacher's cross-entropy on the targets and the label histogram against the target histogram
 * over the last epoch's synthesis rounds, plus the student's accuracy on the VALIDATION split
 * (this is a tuning run: it never holds the test split). One process, runs in sequence.
 * Writes bench/results/synthesis-levers.json and its BENCHMARKS.md section.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { initCompute } from '../cloud/compute';
import { evenSubset, getDatasetInfo, inputRange, loadBuiltinDataset, viewForPurpose } from '../cloud/data';
import type { DistillConfigInput } from '../cloud/distill/config';
import { distillDataFree } from '../cloud/distill/distill';
import { createTestEvaluator } from '../cloud/distill/evaluator';
import { loadTeacher } from '../cloud/zoo/model-io';
import { buildModel } from '../cloud/zoo/zoo';
import { markdownTable, writeBenchReport } from './report';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const dataset = opt('dataset') ?? 'fashion-mnist';
const seed = Number(opt('seed') ?? 1);
const root = resolve(import.meta.dirname, '..');
const teacherDir = resolve(root, opt('teacher') ?? `models/teachers/official-${dataset}-lenet5-bn`);

/** ssdkd generates 2 × budget × trainSetSize: 12,800 → 2,560 samples = 80 rounds of 32. */
/**
 * Levers are changes to the settings this search started from (Fast-DFKD's loss weights bn 10 /
 * oh 0.5, an unconditional generator), spelled out here so the table reproduces after the search
 * changed the defaults to `label-embedding-6+bn-weight-1+oh-2`.
 */
const base: DistillConfigInput = {
  epochs: 10,
  warmupEpochs: 1,
  kdStepsPerEpoch: 10,
  batchSize: 128,
  trainSetSize: Math.round(12_800 * Number(opt('rounds-scale') ?? 1)),
  budget: 0.1,
  synthesis: { batchSize: 32, bnWeight: 10, ohWeight: 0.5 },
  generator: { labelEmbedding: 0 },
};
const variants: Record<string, DistillConfigInput> = {
  baseline: {},
  'bn-weight-3': { synthesis: { bnWeight: 3 } },
  'bn-weight-1': { synthesis: { bnWeight: 1 } },
  'label-embedding-3': { generator: { labelEmbedding: 3 } },
  'lr-z-x3': { synthesis: { lrZ: 0.15 } },
  'ngf-16': { generator: { ngf: 16 } },
  'label-embedding-3+bn-weight-1': { generator: { labelEmbedding: 3 }, synthesis: { bnWeight: 1 } },
  'label-embedding-3+bn-weight-3': { generator: { labelEmbedding: 3 }, synthesis: { bnWeight: 3 } },
  'label-embedding-6': { generator: { labelEmbedding: 6 } },
  'label-embedding-6+bn-weight-1': { generator: { labelEmbedding: 6 }, synthesis: { bnWeight: 1 } },
  'label-embedding-6+bn-weight-1+oh-2': { generator: { labelEmbedding: 6 }, synthesis: { bnWeight: 1, ohWeight: 2 } },
  'label-embedding-6+bn-weight-1+lr-z-x3': { generator: { labelEmbedding: 6 }, synthesis: { bnWeight: 1, lrZ: 0.15 } },
};
// Default order: the single levers first, then the combination; --variants picks any subset.
const chosen = opt('variants')?.split(',') ?? ['baseline', 'label-embedding-3', 'bn-weight-1', 'label-embedding-3+bn-weight-1', 'lr-z-x3', 'ngf-16'];
for (const v of chosen) if (!variants[v]) throw new Error(`unknown variant ${v}; known: ${Object.keys(variants).join(', ')}`);

await initCompute({ backend: 'wasm' });
const teacher = await loadTeacher(teacherDir);
const info = getDatasetInfo(teacher.card.dataset.name);
const view = viewForPurpose(loadBuiltinDataset(teacher.card.dataset.name), 'tune');
const evaluator = createTestEvaluator(evenSubset(view.validation, 2_000));
const input = { range: inputRange(teacher.card.normalization, teacher.card.inputShape[2]), flipInvariant: info.flipInvariant };

const merge = (a: DistillConfigInput, b: DistillConfigInput): DistillConfigInput => ({ ...a, ...b, synthesis: { ...a.synthesis, ...b.synthesis }, generator: { ...a.generator, ...b.generator } });
const rows = [];
for (const name of chosen) {
  const student = buildModel('lenet5-half', { inputShape: teacher.card.inputShape, numClasses: teacher.card.numClasses, seed: 1000 + seed });
  const res = await distillDataFree({ teacher: teacher.model, student, method: 'ssdkd', seed, input, config: merge(base, variants[name]!), evaluator });
  const s = res.synthesis!;
  const maxDeviation = Math.max(...s.labelHistogram.map((l, c) => Math.abs(l / Math.max(1, s.targetHistogram[c]!) - 1)));
  const row = {
    variant: name,
    overrides: variants[name],
    seed,
    teacherTargetCE: s.teacherTargetCE,
    targetHitRate: s.targetHitRate,
    maxHistogramDeviation: maxDeviation,
    labelHistogram: s.labelHistogram,
    targetHistogram: s.targetHistogram,
    ceByEpoch: res.history.map((h) => (h.synthesis ? Math.round(h.synthesis.teacherTargetCE * 1000) / 1000 : null)),
    finalValAccuracy: res.finalAccuracy,
    bestValAccuracy: res.bestAccuracy,
    samplesGenerated: res.samplesGenerated,
    studentSteps: res.studentSteps,
    totalSeconds: Math.round(res.totalSeconds),
  };
  rows.push(row);
  console.error(`${name}: CE ${s.teacherTargetCE.toFixed(3)} hit ${(s.targetHitRate * 100).toFixed(0)}% maxdev ${(maxDeviation * 100).toFixed(0)}% val ${((res.finalAccuracy ?? 0) * 100).toFixed(2)}% ${row.totalSeconds}s`);
}

// Rows of earlier invocations with the same dataset, seed and base schedule are kept (a lever
// search spans several invocations); a variant run again replaces its old row.
const jsonPath = resolve(root, 'bench/results/synthesis-levers.json');
const previous = existsSync(jsonPath) ? (JSON.parse(readFileSync(jsonPath, 'utf8')) as { base?: unknown; dataset?: string; rows?: typeof rows }) : null;
if (previous && previous.dataset === dataset && JSON.stringify(previous.base) === JSON.stringify(base)) {
  const fresh = new Set(rows.map((r) => r.variant));
  rows.unshift(...(previous.rows ?? []).filter((r) => r.seed === seed && !fresh.has(r.variant)));
}

const table = markdownTable(rows, [
  ['lever', (r) => `\`${r.variant}\``],
  ['teacher CE on targets (goal < 0.5)', (r) => r.teacherTargetCE.toFixed(3)],
  ['top class = target', (r) => `${(r.targetHitRate * 100).toFixed(0)}%`],
  ['max per-class deviation (goal ≤ 20%)', (r) => `${(r.maxHistogramDeviation * 100).toFixed(0)}%`],
  ['CE by epoch', (r) => r.ceByEpoch.map((c) => (c === null ? '-' : c.toFixed(2))).join(' ')],
  ['final val acc %', (r) => ((r.finalValAccuracy ?? 0) * 100).toFixed(2)],
  ['s', (r) => r.totalSeconds],
]);
const cmd = `npm run bench:levers${args.length ? ` -- ${args.join(' ')}` : ''}`;
const markdown = `
Tuning run on the **validation** split of official ${dataset} (2,000 of its 5,000 images; the test split is never loaded), teacher \`${teacherDir.replace(root + '/', '')}\`, student \`lenet5-half\`, method ssdkd, seed ${seed}, one process. Schedule: ${base.epochs} epochs (${base.warmupEpochs} synthesis-only), ${base.kdStepsPerEpoch} student steps of 128 per epoch, nominal training set ${base.trainSetSize} at budget 0.1 (ssdkd generates ${rows[0]?.samplesGenerated ?? '?'} samples in rounds of 32 with 5 inner steps). "teacher CE on targets" and the histograms are over the last epoch's synthesis rounds (the teacher on the returned, un-augmented images). One seed and a short schedule: these rank levers, they are not results.

${table}
`;
writeBenchReport({ name: 'synthesis-levers', command: cmd, rows, markdown, extra: { base, dataset } });
console.log(markdown);
