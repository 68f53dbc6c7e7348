/**
 * `node bin/run-ts.mjs bench/adapt-candidates.ts --student-tfjs DIR[,DIR…] [--teacher DIR] [--seed N] [--shifts a,b] [--severity S] [--field N] [--score N]`
 *
 * Chooses the statistics-only adaptation of the retrain loop on a VALIDATION stream, never on the
 * benchmark's scored pool: a seeded subset of the TRAINING split is cut into two disjoint halves,
 * the "field" half (shifted, stands for what the devices see; only its per-layer statistics are
 * used) and the "score" half (shifted and clean, labels read only to score). The test split is not
 * read at all.
 *
 * Candidates, each applied to a fresh copy of the float student:
 * - `none`: the student as deployed;
 * - `adabn-conv1[-wW]`: only the first BatchNorm re-estimated from the field statistics (mixed with
 *   the student's own at weight W);
 * - `adabn-all`: every BatchNorm re-estimated from one round of statistics measured under the
 *   served model (what one period of reports carries);
 * - `adabn-all-w0.5`: the same, half field and half the student's own running statistics;
 * - `adabn-sequential`: layer k's statistics measured after layers < k were adapted (k rounds of
 *   reports, one per redeployment; the upper bound of the one-round variant).
 * - `adabn-batchprobe[-wW]`: one round of statistics measured by a probe that runs the student with
 *   every BatchNorm on the statistics of its batch (device batches of `--probe-batch` images, sums
 *   pooled over batches), so each layer's input is already normalised by the field's statistics
 *   of the layers before it: sequential AdaBN from a single report period, mixed with the student's
 *   own statistics at weight W.
 * With `--retrain` (the field-conditioned retrain, cloud/retrain/fit-degradation.ts and
 * field-imitation.ts), each candidate is a warm-started re-distillation of the student on its own
 * synthetic buffer at the same number of student steps (`--retrain-epochs` × `--retrain-kd-steps`,
 * batch 128, no new synthesis):
 * - `warm-start`: no field information (the loop's control; one run per student, scored per shift);
 * - `imitate-<teacher>-f<F>`: the degradation fitted from the change of the input statistics
 *   (field window against a clean field baseline: a third disjoint slice of the training split,
 *   as the devices' baseline reports) is applied to a fraction F of each KD batch; the teacher
 *   labels the clean sample (`clean`) or the degraded one (`same`); a third field `:S` trains on
 *   the amounts a·(1 − S), a, a·(1 + S) around the fitted amount a (`-sS` in the name);
 * - `--with-synthesis`: every retrain keeps the schedule's synthesis (new samples join the buffer
 *   each epoch, as in the loop's control) instead of none;
 * - `--oracle`: the same candidates with the injected shift itself instead of the fit (`-oracle`):
 *   what a perfect fit would give, separating the fit's errors from the retrain's.
 * `--no-bn` skips the BatchNorm candidates; `--retrain --no-bn` writes `adapt-candidates-retrain`
 * (bench/results and its BENCHMARKS.md section) and leaves the BatchNorm results in place;
 * `--report-name` names the report otherwise (one student per run).
 * Every candidate is summarised by its mean gap closed over the shifts, the shifts it closes at
 * least half of, and its largest clean-accuracy drop; the retrain's adaptation is chosen on that
 * summary (this stream), never on the benchmark's scored pool.
 * The teacher's accuracy on the same shifted stream is the reference of the gap.
 */
import * as tf from '@tensorflow/tfjs';
import { basename, resolve } from 'node:path';
import { parseCommandArgs, numberFlag } from '../shared/cli/args';
import { loadFashionMnist } from '../cloud/data';
import { initCompute } from '../cloud/compute';
import { loadModel } from '../cloud/zoo';
import { createRandom } from '../shared/random/seeded-random';
import { applyImageShift, imageShiftParameter, type ImageShiftKind } from '../shared/drift/shifts';
import { checkDegradation, type Degradation } from '../cloud/retrain/degradation';
import { applyFieldBatchNormStatistics, studentBatchNormLayers, type FieldLayerStatistics } from '../cloud/retrain/field-batchnorm';
import { writeBenchReport, markdownTable } from './report';
import { loadBuffer } from '../cloud/distill/buffer-file';
import { distillDataFree } from '../cloud/distill/distill';
import { fitDegradation, signature, type DegradationFit } from '../cloud/retrain/fit-degradation';
import { fieldImitationInputs } from '../cloud/retrain/field-imitation';
import { FIELD_IMITATION_FIT_SAMPLES } from '../cloud/retrain/field-imitation-step';

const HELP = 'node bin/run-ts.mjs bench/adapt-candidates.ts --student-tfjs DIR[,DIR…] [--teacher DIR] [--seed N] [--shifts contrast,blur,noise] [--severity 3] [--field 2000] [--score 3000] [--probe-batch 64] [--retrain] [--no-bn] [--retrain-epochs 6] [--retrain-kd-steps 100] [--imitations clean:0.5,same:0.5[:SPREAD]] [--oracle] [--with-synthesis] [--report-name NAME]';
const H = 28;
const W = 28;
const PIXELS = H * W;
const GEOMETRY = { height: H, width: W, channels: 1, range: [-1, 1] as const };

async function main(): Promise<number> {
  const { values, help } = parseCommandArgs(
    process.argv.slice(2),
    { 'student-tfjs': { type: 'string' }, teacher: { type: 'string' }, seed: { type: 'string' }, shifts: { type: 'string' }, severity: { type: 'string' }, field: { type: 'string' }, score: { type: 'string' }, 'probe-batch': { type: 'string' }, retrain: { type: 'boolean' }, 'no-bn': { type: 'boolean' }, 'retrain-epochs': { type: 'string' }, 'retrain-kd-steps': { type: 'string' }, imitations: { type: 'string' }, oracle: { type: 'boolean' }, 'with-synthesis': { type: 'boolean' }, 'report-name': { type: 'string' } },
    HELP,
  );
  if (help) return 0;
  if (!values['student-tfjs']) throw new Error(`--student-tfjs is required\n${HELP}`);
  const seed = numberFlag(values.seed, 'seed', 20261203);
  const severity = numberFlag(values.severity, 'severity', 3);
  const fieldN = numberFlag(values.field, 'field', 2000);
  const scoreN = numberFlag(values.score, 'score', 3000);
  const probeBatch = numberFlag(values['probe-batch'], 'probe-batch', 64);
  const retrain = values.retrain === true;
  const bn = values['no-bn'] !== true;
  // --with-synthesis: every retrain (control and imitations) keeps the schedule's synthesis, as the
  // loop's control does (new samples join the buffer each epoch); otherwise none for all.
  const withSynthesis = values['with-synthesis'] === true;
  const retrainSchedule = { budget: 0.1, epochs: numberFlag(values['retrain-epochs'], 'retrain-epochs', 6), warmupEpochs: 0, kdStepsPerEpoch: numberFlag(values['retrain-kd-steps'], 'retrain-kd-steps', 100), ...(withSynthesis ? {} : { synthesis: { kind: 'none' as const } }) };
  const oracle = values.oracle === true;
  const imitations = (values.imitations ?? 'clean:0.5,same:0.5').split(',').map((x) => {
    const [on, f, sp] = x.split(':');
    const spread = Number(sp ?? 0);
    if (!(spread >= 0 && spread < 1)) throw new Error(`--imitations: spread ${sp} outside [0, 1)`);
    return { teacherOn: on === 'same' ? ('degraded' as const) : ('clean' as const), fraction: Number(f ?? 0.5), spread, name: `imitate-${on === 'same' ? 'same' : 'clean'}-f${Number(f ?? 0.5)}${spread ? `-s${spread}` : ''}${oracle ? '-oracle' : ''}` };
  });
  const shifts = (values.shifts ?? 'contrast,blur,noise,brightness,occlusion').split(',') as ImageShiftKind[];
  const studentDirs = values['student-tfjs'].split(',').map((d) => resolve(d));
  const teacherDir = resolve(values.teacher ?? 'models/teachers/fashion-mnist-lenet5-bn');
  const t0 = Date.now();
  const log = (m: string) => console.error(`[adapt-candidates ${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}`);
  await initCompute({ backend: 'wasm' }).catch(async () => initCompute({ backend: 'cpu' }));

  const data = loadFashionMnist();
  const rnd = createRandom(seed);
  const order = Array.from({ length: data.train.count }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rnd.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const fieldIdx = order.slice(0, fieldN);
  const scoreIdx = order.slice(fieldN, fieldN + scoreN);
  const scoreLabels = scoreIdx.map((j) => data.train.labels[j]!);
  // The devices' clean baseline: a third disjoint slice, only its input statistics are used.
  const baselineIdx = order.slice(fieldN + scoreN, fieldN + scoreN + fieldN);
  log(`validation stream from the TRAINING split: ${fieldIdx.length} field images (statistics only), ${scoreIdx.length} scored images, disjoint`);
  const gather = (idx: number[], kind: ImageShiftKind | null, s: number) => {
    const r = createRandom(s);
    const out = new Float32Array(idx.length * PIXELS);
    idx.forEach((j, i) => {
      const x = data.train.images.subarray(j * PIXELS, (j + 1) * PIXELS);
      out.set(kind ? applyImageShift(x, kind, severity, GEOMETRY, r) : x, i * PIXELS);
    });
    return out;
  };

  const teacher = await loadModel(teacherDir);
  const cleanScore = gather(scoreIdx, null, 0);
  const teacherClean = accuracy(teacher, cleanScore, scoreLabels);
  const rows: Row[] = [];
  const fits: Array<{ student: string; shift: string; fit: Omit<DegradationFit, 'ranking'> & { ranking: string[] } }> = [];
  const summary: Summary[] = [];
  const baselineStats = signature(gather(baselineIdx, null, 0), baselineIdx.length, GEOMETRY, { kind: 'none', amount: 0 }, 1);
  const cleanOf: Record<string, number> = {};
  for (const studentDir of studentDirs) {
    const student = basename(studentDir);
    const fresh = () => loadModel(studentDir);
    const base = await fresh();
    const bns = studentBatchNormLayers(base);
    log(`student ${studentDir}: BatchNorm layers ${bns.map((b) => `${b.layer}(${b.channels})`).join(', ')}`);
    const cleanBefore = accuracy(base, cleanScore, scoreLabels);
    cleanOf[student] = cleanBefore;
    const mine: Row[] = [];
    // The retrain candidates share one schedule; the control does not depend on the shift.
    const buffer = retrain ? loadBuffer(studentDir) : null;
    const fitSamples = buffer ? buffer.gather(Array.from({ length: Math.min(FIELD_IMITATION_FIT_SAMPLES, buffer.size) }, (_, i) => i)) : null;
    const retrained = async (kdInputs?: ReturnType<typeof fieldImitationInputs>) => {
      const m = await fresh();
      const t1 = Date.now();
      const r = await distillDataFree({ teacher, student: m, method: 'ssdkd', seed: 1, input: { range: { low: -1, high: 1 }, flipInvariant: false }, config: retrainSchedule, warmStart: { buffer: loadBuffer(studentDir), ...(kdInputs ? { kdInputs } : {}) } });
      log(`${student}: retrain ${kdInputs ? 'field imitation' : 'warm start'} ${r.studentSteps} student steps in ${((Date.now() - t1) / 1000).toFixed(0)} s`);
      return m;
    };
    const control = retrain ? await retrained() : null;
    for (const kind of shifts) {
      const field = gather(fieldIdx, kind, seed + 11);
      const scored = gather(scoreIdx, kind, seed + 12);
      const teacherAcc = accuracy(teacher, scored, scoreLabels);
      const before = accuracy(base, scored, scoreLabels);
      const push = (candidate: string, m: tf.LayersModel, layers: string) => {
        const shifted = candidate === 'none' ? before : accuracy(m, scored, scoreLabels);
        const clean = candidate === 'none' ? cleanBefore : accuracy(m, cleanScore, scoreLabels);
        mine.push({ student, shift: `${kind}/${severity}`, candidate, shifted, clean, cleanBefore, teacher: teacherAcc, gapClosed: teacherAcc > before ? (shifted - before) / (teacherAcc - before) : null, layers });
        log(`${student} ${kind}/${severity} ${candidate}: shifted ${pct(shifted)} (before ${pct(before)}, teacher ${pct(teacherAcc)}), clean ${pct(clean)}`);
      };
      push('none', base, '');
      if (retrain) {
        push('warm-start', control!, 'all weights');
        const fit = fitDegradation({ samples: fitSamples!, count: fitSamples!.length / PIXELS, geometry: GEOMETRY, baseline: baselineStats, field: signature(field, fieldIdx.length, GEOMETRY, { kind: 'none', amount: 0 }, 1) });
        fits.push({ student, shift: `${kind}/${severity}`, fit: { ...fit, ranking: fit.ranking.slice(0, 3).map((x) => `${x.kind} ${x.amount} (${x.distance.toFixed(2)})`) } });
        log(`${student} ${kind}/${severity}: fitted ${fit.degradation.kind} ${fit.degradation.amount} (distance ${fit.distance.toFixed(2)}, none ${fit.noneDistance.toFixed(2)})`);
        // --oracle: the injected shift itself instead of the fit (what a perfect fit would give).
        const chosen: Degradation = oracle ? { kind, amount: imageShiftParameter(kind, severity) } : fit.degradation;
        for (const im of imitations) {
          if (chosen.kind === 'none') continue;
          const m = await retrained(fieldImitationInputs({ degradations: spreadAmounts(chosen, im.spread), fraction: im.fraction, teacherOn: im.teacherOn, geometry: GEOMETRY }));
          push(im.name, m, `${chosen.kind} ${chosen.amount}`);
          m.dispose();
        }
      }
      if (!bn) continue;
      const oneRound = measureBatchNormInputs(base, field, fieldIdx.length);
      for (const [name, pick, weight] of [
        ['adabn-conv1', (s: FieldLayerStatistics[]) => s.slice(0, 1), 1],
        ['adabn-conv1-w0.75', (s: FieldLayerStatistics[]) => s.slice(0, 1), 0.75],
        ['adabn-conv1-w0.5', (s: FieldLayerStatistics[]) => s.slice(0, 1), 0.5],
        ['adabn-all', (s: FieldLayerStatistics[]) => s, 1],
        ['adabn-all-w0.5', (s: FieldLayerStatistics[]) => s, 0.5],
      ] as const) {
        const m = await fresh();
        const r = applyFieldBatchNormStatistics(m, pick(oneRound), { fieldWeight: weight });
        push(name, m, r.adapted.map((a) => a.layer).join('+'));
        m.dispose();
      }
      const seq = await fresh();
      for (const b of bns) {
        const stats = measureBatchNormInputs(seq, field, fieldIdx.length).filter((s) => s.layer === b.layer);
        applyFieldBatchNormStatistics(seq, stats);
      }
      push('adabn-sequential', seq, bns.map((b) => b.layer).join('+'));
      seq.dispose();
      const probeModel = await fresh();
      const batchProbe = measureBatchNormInputsOnBatchStatistics(probeModel, field, fieldIdx.length, probeBatch);
      probeModel.dispose();
      for (const weight of [1, 0.75, 0.5]) {
        const m = await fresh();
        const r = applyFieldBatchNormStatistics(m, batchProbe, { fieldWeight: weight });
        push(weight === 1 ? 'adabn-batchprobe' : `adabn-batchprobe-w${weight}`, m, r.adapted.map((a) => a.layer).join('+'));
        m.dispose();
      }
    }
    base.dispose();
    control?.dispose();
    rows.push(...mine);
    // One line per candidate over the shifts: what the retrain's choice is made on.
    for (const candidate of [...new Set(mine.map((r) => r.candidate))].filter((c) => c !== 'none')) {
      const of = mine.filter((r) => r.candidate === candidate);
      const gaps = of.map((r) => r.gapClosed ?? 0);
      summary.push({
        student,
        candidate,
        meanGapClosed: gaps.reduce((x, y) => x + y, 0) / gaps.length,
        shiftsHalfClosed: of.filter((r) => (r.gapClosed ?? 0) >= 0.5).map((r) => r.shift),
        worstCleanDrop: Math.max(...of.map((r) => cleanBefore - r.clean)),
      });
    }
    const best = summary.filter((x) => x.student === student).sort((x, y) => y.meanGapClosed - x.meanGapClosed)[0];
    log(`${student}: best mean gap closed on this stream: ${best?.candidate} (${best?.meanGapClosed.toFixed(2)})`);
  }

  const md = [
    `Validation stream: ${fieldIdx.length} field + ${scoreIdx.length} scored images from the Fashion-MNIST TRAINING split (seed ${seed}), severity ${severity}; students ${studentDirs.map((d) => `${basename(d)} (clean ${pct(cleanOf[basename(d)]!)})`).join(', ')} in float (tfjs), teacher ${basename(teacherDir)} (clean ${pct(teacherClean)}); batch-statistics probe batches of ${probeBatch}. gapClosed = (candidate − none) / (teacher − none) on the shifted scored images.`,
    '',
    markdownTable(rows, [
      ['student', (r) => r.student],
      ['shift', (r) => r.shift],
      ['candidate', (r) => r.candidate],
      ['shifted', (r) => pct(r.shifted)],
      ['clean', (r) => pct(r.clean)],
      ['teacher', (r) => pct(r.teacher)],
      ['gapClosed', (r) => (r.gapClosed === null ? 'n/a' : r.gapClosed.toFixed(2))],
    ]),
    '',
    ...(fits.length
      ? [
          `Degradation fitted from the input statistics (field window against the clean baseline slice), on ${FIELD_IMITATION_FIT_SAMPLES} synthetic buffer samples of each student; retrain schedule ${JSON.stringify(retrainSchedule)}:`,
          '',
          markdownTable(fits, [
            ['student', (r) => r.student],
            ['shift', (r) => r.shift],
            ['fitted', (r) => `${r.fit.degradation.kind} ${r.fit.degradation.amount}`],
            ['distance (none)', (r) => `${r.fit.distance.toFixed(2)} (${r.fit.noneDistance.toFixed(2)})`],
            ['best three', (r) => r.fit.ranking.join(', ')],
          ]),
          '',
        ]
      : []),
    `Per student and candidate over the ${shifts.length} shifts (clean drop: the student's clean accuracy minus the candidate's, worst shift):`,
    '',
    markdownTable(summary, [
      ['student', (r) => r.student],
      ['candidate', (r) => r.candidate],
      ['mean gapClosed', (r) => r.meanGapClosed.toFixed(2)],
      ['shifts with gapClosed ≥ 0.5', (r) => (r.shiftsHalfClosed.length ? r.shiftsHalfClosed.join(', ') : 'none')],
      ['worst clean drop', (r) => `${(r.worstCleanDrop * 100).toFixed(2)} pt`],
    ]),
  ].join('\n');
  console.log(md);
  writeBenchReport({ name: values['report-name'] ?? (retrain && !bn ? 'adapt-candidates-retrain' : 'adapt-candidates'), command: `node bin/run-ts.mjs bench/adapt-candidates.ts ${process.argv.slice(2).join(' ')}`.trimEnd(), rows, markdown: md, extra: { seed, severity, cleanOf, teacherClean, studentDirs, teacherDir, probeBatch, summary, fits, ...(retrain ? { retrainSchedule } : {}) } });
  return 0;
}

/**
 * The degradation at amounts a·(1 − s), a, a·(1 + s) (each clipped into the family's bounds), or
 * just `d` for s = 0: training on a band of amounts around the fit instead of one point.
 */
function spreadAmounts(d: Degradation, s: number): Degradation[] {
  if (s === 0) return [d];
  return [1 - s, 1, 1 + s].map((f) => {
    const candidate = { kind: d.kind, amount: Number((d.amount * f).toFixed(4)) };
    try {
      checkDegradation(candidate);
      return candidate;
    } catch {
      return d;
    }
  });
}

interface Row {
  student: string;
  shift: string;
  candidate: string;
  shifted: number;
  clean: number;
  cleanBefore: number;
  teacher: number;
  gapClosed: number | null;
  layers: string;
}

interface Summary {
  student: string;
  candidate: string;
  meanGapClosed: number;
  shiftsHalfClosed: string[];
  worstCleanDrop: number;
}

/**
 * Per BatchNorm layer, the per-channel mean and variance of its input over samples and positions:
 * what the devices' `channel-mean` / `channel-mean-square` outputs pool to. Here computed in the
 * benchmark from the validation field images (the device does it on its own inputs).
 */
function measureBatchNormInputs(model: tf.LayersModel, images: Float32Array, count: number): FieldLayerStatistics[] {
  const bns = studentBatchNormLayers(model);
  const probe = tf.model({ inputs: model.inputs, outputs: bns.map((b) => model.getLayer(b.input).output as tf.SymbolicTensor) });
  const sums = bns.map((b) => ({ m: new Float64Array(b.channels), q: new Float64Array(b.channels) }));
  for (let i = 0; i < count; i += 500) {
    const n = Math.min(500, count - i);
    const parts = tf.tidy(() => {
      const ys = probe.predict(tf.tensor4d(images.subarray(i * PIXELS, (i + n) * PIXELS), [n, H, W, 1]));
      return (Array.isArray(ys) ? ys : [ys]).map((y) => [y.mean([0, 1, 2]).dataSync(), y.square().mean([0, 1, 2]).dataSync()] as const);
    });
    parts.forEach(([m, q], l) => {
      for (let c = 0; c < m.length; c++) {
        sums[l]!.m[c] += m[c]! * n;
        sums[l]!.q[c] += q[c]! * n;
      }
    });
  }
  return bns.map((b, l) => {
    const mean = Array.from(sums[l]!.m, (v) => v / count);
    return { layer: b.layer, mean, variance: Array.from(sums[l]!.q, (v, c) => Math.max(0, v / count - mean[c]! ** 2)), sampleCount: count };
  });
}

/**
 * What a device's batch-statistics probe reports: the student run with every BatchNorm normalising
 * by the statistics of the current batch (`training: true`), so layer k's input already reflects
 * the field-normalised layers before it. Per batch the per-channel sums of x and x² over samples
 * and positions are added; the pooled mean and variance are over all samples and positions.
 * tfjs updates the moving statistics of a model applied in training mode: pass a throwaway copy.
 */
function measureBatchNormInputsOnBatchStatistics(model: tf.LayersModel, images: Float32Array, count: number, batch: number): FieldLayerStatistics[] {
  const bns = studentBatchNormLayers(model);
  const probe = tf.model({ inputs: model.inputs, outputs: bns.map((b) => model.getLayer(b.input).output as tf.SymbolicTensor) });
  const sums = bns.map((b) => ({ m: new Float64Array(b.channels), q: new Float64Array(b.channels) }));
  let used = 0;
  for (let i = 0; i + batch <= count; i += batch) {
    const parts = tf.tidy(() => {
      const ys = probe.apply(tf.tensor4d(images.subarray(i * PIXELS, (i + batch) * PIXELS), [batch, H, W, 1]), { training: true }) as tf.Tensor | tf.Tensor[];
      return (Array.isArray(ys) ? ys : [ys]).map((y) => [y.mean([0, 1, 2]).dataSync(), y.square().mean([0, 1, 2]).dataSync()] as const);
    });
    parts.forEach(([m, q], l) => {
      for (let c = 0; c < m.length; c++) {
        sums[l]!.m[c] += m[c]! * batch;
        sums[l]!.q[c] += q[c]! * batch;
      }
    });
    used += batch;
  }
  return bns.map((b, l) => {
    const mean = Array.from(sums[l]!.m, (v) => v / used);
    return { layer: b.layer, mean, variance: Array.from(sums[l]!.q, (v, c) => Math.max(0, v / used - mean[c]! ** 2)), sampleCount: used };
  });
}

function accuracy(model: tf.LayersModel, images: Float32Array, labels: number[]): number {
  let ok = 0;
  for (let i = 0; i < labels.length; i += 500) {
    const n = Math.min(500, labels.length - i);
    const pred = tf.tidy(() => (model.predict(tf.tensor4d(images.subarray(i * PIXELS, (i + n) * PIXELS), [n, H, W, 1])) as tf.Tensor).argMax(-1).dataSync());
    for (let j = 0; j < n; j++) if (pred[j] === labels[i + j]) ok++;
  }
  return ok / labels.length;
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
