/**
 * `npm run bench:drift [-- --quick] [--student-tfjs DIR | --student FILE.onnx] [--teacher DIR] [--seed N] [--retrain-config FILE]`
 *
 * Streams the Fashion-MNIST test split (real data: evaluation only) through a deployed model, clean
 * and with injected shifts at several severities, and measures per detector and shift the
 * detection delay (samples after the shift starts) and the false alarms per 100,000 clean
 * inferences, beside alibi-detect's KSDrift defaults on softmax outputs (Bonferroni p = 0.05) in
 * the same run. Then the retrain loop (bench/drift-loop.ts): with `--student-tfjs DIR` (an `edgekd
 * distill` output) the deployed model is that student exported by `edgekd export` (int8, signed),
 * simulated devices stream a shifted field, and the production drift service, retrain policy,
 * controller and engine steps re-distil and package a new student with no human step; its
 * accuracy on the shifted stream is measured beside the old student's and the teacher's.
 *
 * Protocol (all seeded):
 * - The test split is shuffled once; the first `baseline` images stand for the first N inferences
 *   after commit (the field baseline): half builds the reference, the other half fits the score
 *   bands. The remaining images form the evaluation pool, disjoint from both.
 * - Clean streams draw from the pool with replacement; shifted streams draw the shifted version of a
 *   pool image (label-prior shift: class by the shifted prior, then an image of that class).
 * - False alarms: one long clean stream per detector; alarms are rising edges of the confirmed
 *   alarm state (the baseline: every drifted batch).
 * - Delay: `trials` runs of 1,024 clean samples then the shifted stream until the alarm or
 *   `maxDelay`; the median is reported (misses count as infinite) with the detection rate.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeBenchReport, markdownTable } from './report';
import { parseCommandArgs, numberFlag } from '../shared/cli/args';
import { loadFashionMnist } from '../cloud/data';
import { loadTeacher } from '../cloud/zoo';
import { initCompute } from '../cloud/compute';
import { createRandom, type Random } from '../shared/random/seeded-random';
import { summarizeInference, type InferenceSummary, type FeatureSample } from '../shared/drift/summary';
import { buildDriftReference } from '../shared/drift/build-reference';
import { fitScoreBands } from '../shared/drift/fit-bands';
import { DriftDetector, DEFAULT_DRIFT_CONFIG, type DriftDetectorConfig } from '../shared/drift/drift-detector';
import { DETECTOR_NAMES, type DetectorName } from '../shared/drift/window-detectors';
import { BatchKsBaseline } from './drift-evaluation/baseline-ks';
import { softmaxRows } from '../shared/math/softmax-rows';
import { countFalseAlarms, measureDelay, summarizeDelays, type StreamDetector } from './drift-evaluation/stream-evaluation';
import { applyImageShift, priorShiftWeights, sampleCategorical, SHIFT_KINDS, type ImageShiftKind, type ShiftKind } from '../shared/drift/shifts';
import { runConvProbe, type ConvProbe } from '../shared/drift/conv-probe';
import type { DriftReference, FeatureStatisticReference } from '../shared/drift/reference';
import { teacherFeatureReference } from '../cloud/drift/teacher-feature-reference';
import { merge, type DistillConfigInput } from '../cloud/distill/config';
import { parseJson } from '../shared/contracts/parse';
import { EdgekdError } from '../shared/errors';
import { deployStudentPackage, type DeployedPackage } from './drift-deploy';
import { LOOP_SHIFTS, loopsMarkdown, measureLoops, type LoopRow } from './drift-loops';
import { DEFAULT_LOOP_CONFIG, effectivePolicy, retrainSchedule, runRetrainLoop, type LoopConfig, type LoopRun } from './drift-loop';
import { DEFAULT_FIELD_ADAPTATION, DEFAULT_FIELD_IMITATION } from '../cloud/retrain/adaptation-settings';

const HELP = `npm run bench:drift -- [--quick] [--student-tfjs DIR | --student FILE.onnx] [--teacher DIR] [--seed N] [--retrain-config FILE]

  --student-tfjs DIR     an \`edgekd distill\` output folder (model.json, weights.bin, model-card.json,
                         buffer.json + buffer.bin, run-record.json): exported with \`edgekd export\`
                         (int8, signed) and deployed; the retrain loop warm-starts from it
  --student FILE.onnx    a bare ONNX model for the detector measurements only (no loop)
  --loop-students DIRS   further \`edgekd distill\` outputs (comma-separated) for the loops table
  --loop-shifts LIST     shifts of the loops table (default noise,blur,brightness,contrast,occlusion; severity 3)
  --adapt-layers L       BatchNorm layers the retrain re-estimates from the field sketches: first | all
                         (default all, the engine's default, chosen on the validation stream of bench/adapt-candidates.ts)
  --adapt-weight W       weight of the field statistics against the student's own, in [0, 1] (default 0.5, likewise)
  --adapt-method M       auto (default: field imitation when a degradation is fitted from the reports' input
                         statistics, else the BatchNorm re-estimation) | field-imitation | field-batchnorm
  --retrain-config FILE  JSON distillation overrides for the retrain, merged over the mode's schedule
                         (quick: ${JSON.stringify(retrainSchedule(true))}; full: ${JSON.stringify(retrainSchedule(false))})`;

const H = 28;
const W = 28;
const PIXELS = H * W;
const RANGE = [-1, 1] as const;
const GEOMETRY = { height: H, width: W, channels: 1, range: RANGE };

interface LoopResult {
  status: 'completed' | 'not-completed';
  shift: string;
  /** Accuracy on the shifted evaluation pool. */
  studentBefore: number;
  studentAfter: number | null;
  teacher: number | null;
  /** The same models on the clean evaluation pool. */
  clean: { studentBefore: number; studentAfter: number | null; teacher: number | null };
  /** (after − before) / (teacher − before) on the shifted stream; null when not measured or no gap. */
  gapClosed: number | null;
  reason?: string;
  outcome?: LoopRun['status'];
  /** The distill step's summary (`adaptation: 'field-batchnorm'` with the layers re-estimated, or the re-distillation's). */
  adaptation?: Record<string, unknown> | null;
  /** The rollout step's summary (the fleet canary's gate verdicts per wave). */
  rollout?: unknown;
  package?: { name: string; version: number; sha256: string; parent: string | null } | null;
  featureTargets?: string[];
  timeline?: LoopRun['timeline'];
  decision?: string | null;
  actions?: Array<{ kind: string; reason: string }>;
  preShiftCohortAlarms?: number;
  config?: LoopConfig;
  policy?: ReturnType<typeof effectivePolicy>;
}

/** How the loop's package reached the devices, from the rollout step's summary. */
function rolloutSentence(loop: LoopResult): string {
  const step = loop.rollout as { mode?: string; gates?: Array<{ wave: number; devices: number; verdict: { passed: boolean; results: Array<{ gate: string; value: number | null }> } | null }> } | null | undefined;
  if (!step?.gates) return 'the package was verified against the trusted key and installed on every simulated device directly (no canary).';
  const waves = step.gates.map((g) => {
    const v = (name: string) => g.verdict?.results.find((x) => x.gate === name)?.value;
    return `wave ${g.wave} (${g.devices} device${g.devices === 1 ? '' : 's'}): ${g.verdict?.passed ? 'passed' : 'failed'}, shadow agreement ${v('shadowAgreement')?.toFixed(2) ?? 'n/a'}, confidence shift ${v('confidenceShift')?.toFixed(2) ?? 'n/a'}${v('driftRepair') === undefined ? '' : `, class histogram closer to the prior by ${v('driftRepair')?.toFixed(3) ?? 'n/a'} (JS distance)`}`;
  });
  return `fleet canary with ML-quality gates on 3 real agents serving the shifted field (bench/drift-canary.ts): ${waves.join('; ')}; outcome ${loop.outcome ?? 'n/a'}.`;
}

/** Why the automatic retrain cannot run in this benchmark, or undefined when it can. */
function loopBlocker(haveTeacher: boolean, deployedPackage: DeployedPackage | null): string | undefined {
  if (!haveTeacher) return 'no finished teacher at models/teachers/fashion-mnist-lenet5-bn (model card missing)';
  if (!deployedPackage) return 'no distilled student to warm-start from: pass --student-tfjs DIR (an edgekd distill output with its replay buffer)';
  return undefined;
}

interface Row {
  detector: string;
  shift: ShiftKind | 'none';
  severity: number;
  delaySamples: number | null;
  detectionRate: number | null;
  falseAlarmsPer100k: number;
  trials: number;
}

/** A deployed model: images in, probabilities out. */
interface Classifier {
  description: string;
  predict(images: Float32Array, count: number): Promise<Float32Array>;
  numClasses: number;
}

async function main(): Promise<number> {
  const { values, help } = parseCommandArgs(
    process.argv.slice(2),
    {
      quick: { type: 'boolean' },
      student: { type: 'string' },
      'student-tfjs': { type: 'string' },
      teacher: { type: 'string' },
      seed: { type: 'string' },
      'retrain-config': { type: 'string' },
      'loop-students': { type: 'string' },
      'loop-shifts': { type: 'string' },
      'adapt-layers': { type: 'string' },
      'adapt-weight': { type: 'string' },
      'adapt-method': { type: 'string' },
    },
    HELP,
  );
  if (help) return 0;
  const quick = Boolean(values.quick);
  const seed = numberFlag(values.seed, 'seed', 20261128);
  const severities = quick ? [1, 3, 5] : [1, 2, 3, 4, 5];
  const trials = quick ? 8 : 24;
  const faLength = quick ? 1_000_000 : 5_000_000;
  const maxDelay = quick ? 4096 : 8192;
  const baselineSize = 4000;
  const adaptLayers = values['adapt-layers'] ?? DEFAULT_FIELD_ADAPTATION.layers;
  if (adaptLayers !== 'first' && adaptLayers !== 'all') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--adapt-layers must be first or all, got ${adaptLayers}`);
  const adaptMethod = values['adapt-method'] ?? 'auto';
  if (adaptMethod !== 'auto' && adaptMethod !== 'field-imitation' && adaptMethod !== 'field-batchnorm') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--adapt-method must be auto, field-imitation or field-batchnorm, got ${adaptMethod}`);
  const adaptation = { method: adaptMethod, layers: adaptLayers, fieldWeight: numberFlag(values['adapt-weight'], 'adapt-weight', DEFAULT_FIELD_ADAPTATION.fieldWeight) } as const;
  const t0 = Date.now();
  const log = (m: string) => console.error(`[bench:drift ${((Date.now() - t0) / 1000).toFixed(0)}s] ${m}`);

  const compute = await initCompute({ backend: 'wasm' }).catch(async () => initCompute({ backend: 'cpu' }));
  log(`tfjs backend ${compute.backend}`);
  const data = loadFashionMnist();
  const rnd = createRandom(seed);
  const order = shuffle(data.test.count, rnd);
  const baselineIdx = order.slice(0, baselineSize);
  const poolIdx = order.slice(baselineSize);
  const labels = data.test.labels;
  log(`Fashion-MNIST test split: ${data.test.count} images; baseline ${baselineIdx.length}, evaluation pool ${poolIdx.length}`);

  // ── models ──────────────────────────────────────────────────────────────────
  const teacher = await resolveTeacher(values.teacher, log);
  const teacherClassifier: Classifier | null = teacher ? tfjsClassifier(teacher.model, teacher.description) : null;
  const workDir = mkdtempSync(join(tmpdir(), 'edgekd-bench-drift-'));
  let deployedPackage: DeployedPackage | null = null;
  if (values['student-tfjs'] && teacher?.complete) {
    deployedPackage = await deployStudentPackage({ studentDir: resolve(values['student-tfjs']), teacherDir: teacher.dir, workDir });
    log(`deployed ${deployedPackage.manifest.name} v${deployedPackage.manifest.version} (${deployedPackage.manifest.quantization.precision}, ${deployedPackage.manifest.model.size} bytes) exported from ${values['student-tfjs']} into ${deployedPackage.dir}`);
  }
  const deployed = deployedPackage
    ? await onnxClassifier(join(deployedPackage.dir, deployedPackage.manifest.model.file), `student int8 package ${deployedPackage.manifest.name} v1 exported by edgekd export from ${values['student-tfjs']} (onnxruntime-node)`)
    : await resolveDeployed(values.student, values['student-tfjs'], data, rnd, log);
  log(`deployed model: ${deployed.description}`);
  const featureRef: FeatureStatisticReference | null = teacher ? teacherFeatureReference(teacher.model) : null;
  const probe = featureRef?.probe as ConvProbe | undefined;
  log(featureRef ? `feature reference: ${teacher!.description}, ${featureRef.layer} (${featureRef.runningMean.length} channels)` : 'no teacher: feature-bn detector skipped');

  // ── summaries of every image the streams can draw ───────────────────────────
  const summarize = async (idx: number[], shift?: { kind: ImageShiftKind; severity: number }, srnd?: Random) => {
    const images = new Float32Array(idx.length * PIXELS);
    idx.forEach((j, i) => {
      const x = data.test.images.subarray(j * PIXELS, (j + 1) * PIXELS);
      images.set(shift ? applyImageShift(x, shift.kind, shift.severity, GEOMETRY, srnd!) : x, i * PIXELS);
    });
    const probs = await deployed.predict(images, idx.length);
    const k = deployed.numClasses;
    const out: InferenceSummary[] = [];
    const raw: Float32Array[] = [];
    const probed = probe ? probeBatched(images, idx.length, probe) : null;
    for (let i = 0; i < idx.length; i++) {
      const x = images.subarray(i * PIXELS, (i + 1) * PIXELS);
      const p = probs.subarray(i * k, (i + 1) * k);
      const features: FeatureSample[] | undefined = probed ? [probed[i]!] : undefined;
      out.push(summarizeInference({ probabilities: p, input: x, ...(features ? { features } : {}) }, GEOMETRY));
      raw.push(p);
    }
    return { summaries: out, probs: raw, images };
  };
  const baseline = await summarize(baselineIdx);
  const clean = await summarize(poolIdx);
  const half = baselineSize / 2;
  const reference: DriftReference = buildDriftReference(baseline.summaries.slice(0, half), {
    numClasses: deployed.numClasses,
    source: 'field-baseline',
    ...(featureRef ? { featureStatistics: [featureRef] } : {}),
  });
  reference.scoreBands = fitScoreBands(reference, baseline.summaries.slice(half), {
    windowSize: DEFAULT_DRIFT_CONFIG.windowSize,
    windows: 400,
    detectors: DETECTOR_NAMES,
    random: createRandom(seed + 1),
  });
  log(`reference: ${reference.sampleCount} samples, bands ${reference.scoreBands.map((b) => `${b.detector} ${b.mean.toFixed(3)}±${b.std.toFixed(3)}`).join(', ')}`);

  const shifted = new Map<string, InferenceSummary[] & { probs?: Float32Array[] }>();
  const shiftedProbs = new Map<string, Float32Array[]>();
  for (const kind of SHIFT_KINDS) {
    if (kind === 'prior') continue;
    for (const s of severities) {
      const r = await summarize(poolIdx, { kind, severity: s }, createRandom(seed + 100 + s));
      shifted.set(`${kind}/${s}`, r.summaries);
      shiftedProbs.set(`${kind}/${s}`, r.probs);
    }
  }
  log(`summaries ready (${(poolIdx.length * (1 + shifted.size) + baselineSize).toLocaleString()} inferences)`);

  // Pool indices by class, for the label-prior shift.
  const byClass: number[][] = Array.from({ length: deployed.numClasses }, () => []);
  poolIdx.forEach((j, i) => byClass[labels[j]!]!.push(i));

  const accuracyOf = (probs: Float32Array[]) => probs.reduce((a, p, i) => a + (argmax(p) === labels[poolIdx[i]!]! ? 1 : 0), 0) / probs.length;
  const cleanAccuracy = accuracyOf(clean.probs);
  log(`deployed model accuracy on the clean pool: ${(cleanAccuracy * 100).toFixed(2)}%`);

  // ── detectors under test ────────────────────────────────────────────────────
  type Item = number; // index into the pool; which array it reads is decided by the sampler
  interface Candidate {
    name: string;
    make: (source: () => { s: InferenceSummary[]; p: Float32Array[] }) => StreamDetector<Item>;
  }
  const available = DETECTOR_NAMES.filter((d) => reference.scoreBands!.some((b) => b.detector === d));
  const candidate = (name: string, cfg: DriftDetectorConfig): Candidate => ({
    name,
    make: (source) => {
      const d = new DriftDetector(reference, cfg);
      return { push: (i) => d.observe(source().s[i]!)?.confirmed ?? false };
    },
  });
  const candidates: Candidate[] = [
    candidate('combined', { ...DEFAULT_DRIFT_CONFIG, detectors: available }),
    ...available.map((d: DetectorName) => candidate(d, { ...DEFAULT_DRIFT_CONFIG, detectors: [d] })),
    {
      name: 'baseline-ks-softmax (alibi KSDrift defaults)',
      make: (source) => {
        const b = new BatchKsBaseline(baseline.probs.slice(0, half), DEFAULT_DRIFT_CONFIG.windowSize, 0.05);
        return { push: (i) => b.observe(source().p[i]!) };
      },
    },
  ];

  const rows: Row[] = [];
  const faByName = new Map<string, number>();
  for (const c of candidates) {
    const r = createRandom(seed + 7);
    let current = { s: clean.summaries, p: clean.probs };
    const det = c.make(() => current);
    const fa = countFalseAlarms(det, () => r.int(poolIdx.length), faLength);
    faByName.set(c.name, fa.per100k);
    rows.push({ detector: c.name, shift: 'none', severity: 0, delaySamples: null, detectionRate: null, falseAlarmsPer100k: round(fa.per100k, 3), trials: 1 });
    log(`${c.name}: ${fa.alarms} false alarms in ${fa.length.toLocaleString()} clean inferences`);
  }

  const shiftAccuracy: Record<string, number> = {};
  for (const kind of SHIFT_KINDS) {
    for (const s of severities) {
      const key = `${kind}/${s}`;
      const summaries = kind === 'prior' ? clean.summaries : shifted.get(key)!;
      const probs = kind === 'prior' ? clean.probs : shiftedProbs.get(key)!;
      if (kind !== 'prior') shiftAccuracy[key] = accuracyOf(probs);
      const weights = priorShiftWeights(deployed.numClasses, s);
      for (const c of candidates) {
        const r = createRandom(seed + 1000 + s);
        let phase: 'clean' | 'shifted' = 'clean';
        const source = () => (phase === 'clean' ? { s: clean.summaries, p: clean.probs } : { s: summaries, p: probs });
        const drawClean = () => {
          phase = 'clean';
          return r.int(poolIdx.length);
        };
        const drawShifted = () => {
          phase = 'shifted';
          if (kind !== 'prior') return r.int(poolIdx.length);
          const members = byClass[sampleCategorical(weights, r)]!;
          return members[r.int(members.length)]!;
        };
        const res = measureDelay(() => c.make(source), drawClean, drawShifted, { warmup: 1024, maxDelay, trials });
        const sum = summarizeDelays(res);
        rows.push({
          detector: c.name,
          shift: kind,
          severity: s,
          delaySamples: sum.medianDelay,
          detectionRate: round(sum.detectionRate, 3),
          falseAlarmsPer100k: round(faByName.get(c.name)!, 3),
          trials,
        });
      }
      log(`${key}: ${candidates.map((c) => `${c.name.split(' ')[0]}=${rows.find((x) => x.detector === c.name && x.shift === kind && x.severity === s)!.delaySamples ?? 'miss'}`).join(' ')}`);
    }
  }

  // ── the loop ────────────────────────────────────────────────────────────────
  // Accuracy on one shifted stream before and after the automatic retrain, beside the teacher.
  const loopShift = `contrast/${severities.includes(3) ? 3 : severities[0]}`;
  const loopStream = shiftedImages(loopShift);
  const cleanStream = { images: clean.images, labels: poolIdx.map((j) => labels[j]!) };
  const teacherClean = teacherClassifier ? await accuracyWith(teacherClassifier, cleanStream) : null;
  const loop: LoopResult = {
    status: 'not-completed',
    shift: loopShift,
    studentBefore: await accuracyWith(deployed, loopStream),
    studentAfter: null,
    teacher: teacherClassifier ? await accuracyWith(teacherClassifier, loopStream) : null,
    clean: { studentBefore: cleanAccuracy, studentAfter: null, teacher: teacherClean },
    gapClosed: null,
  };
  const blocker = loopBlocker(teacher?.complete ?? false, deployedPackage);
  if (blocker) loop.reason = blocker;
  log(`loop on ${loopShift}: student before ${pct(loop.studentBefore)}, teacher ${pct(loop.teacher)} (clean: student ${pct(cleanAccuracy)}, teacher ${pct(teacherClean)})${blocker ? `; ${blocker}` : ''}`);
  if (!blocker && deployedPackage && teacher) {
    const studentDir = resolve(values['student-tfjs']!);
    const override = values['retrain-config'] ? (parseJson(readFileSync(values['retrain-config']), values['retrain-config'], 'EDGEKD_INVALID_ARGUMENT') as DistillConfigInput) : undefined;
    const record = readRunRecord(studentDir);
    const schedule = merge<DistillConfigInput>(retrainSchedule(quick), { ...(record.trainSetSize ? { trainSetSize: record.trainSetSize } : {}), ...override });
    const loopConfig: LoopConfig = { ...DEFAULT_LOOP_CONFIG, adaptation, retrain: { method: 'ssdkd', seed: seed % 100_000, config: schedule } };
    log(`loop config: ${JSON.stringify({ ...loopConfig, policy: effectivePolicy(loopConfig) })}`);
    const [kind, sev] = loopShift.split('/') as [ImageShiftKind, string];
    const field = { images: new Float32Array(baselineIdx.length * PIXELS), count: baselineIdx.length };
    // The devices' field stream: the baseline images (disjoint from the evaluation pool), so the
    // statistics the retrain learns from never come from the images it is scored on.
    baselineIdx.forEach((j, i) => field.images.set(data.test.images.subarray(j * PIXELS, (j + 1) * PIXELS), i * PIXELS));
    const r = await runRetrainLoop({ config: loopConfig, deployed: deployedPackage, studentDir, teacherDir: teacher.dir, workDir, field, geometry: GEOMETRY, shift: { kind, severity: Number(sev) }, seed, log });
    Object.assign(loop, {
      outcome: r.status,
      adaptation: r.run?.steps.find((x) => x.name === 'distill')?.summary ?? null,
      rollout: r.run?.steps.find((x) => x.name === 'rollout')?.summary ?? null,
      reason: r.reason,
      timeline: r.timeline,
      featureTargets: r.featureTargets,
      decision: r.actions.find((a) => a.kind === 'retrain-started')?.reason ?? null,
      actions: r.actions.map((a) => ({ kind: a.kind, reason: a.reason })),
      preShiftCohortAlarms: r.preShiftCohortAlarms,
      config: loopConfig,
      policy: effectivePolicy(loopConfig),
      package: r.manifest ? { name: r.manifest.name, version: r.manifest.version, sha256: r.manifest.model.sha256, parent: r.manifest.lineage.parent ? `${r.manifest.lineage.parent.name} v${r.manifest.lineage.parent.version}` : null } : null,
    });
    if (r.status === 'promoted' && r.packageDir && r.manifest) {
      const after = await onnxClassifier(join(r.packageDir, r.manifest.model.file), `retrained ${r.manifest.name} v${r.manifest.version}`);
      loop.studentAfter = await accuracyWith(after, loopStream);
      loop.clean.studentAfter = await accuracyWith(after, cleanStream);
      loop.status = 'completed';
      if (loop.teacher !== null && loop.teacher > loop.studentBefore) loop.gapClosed = (loop.studentAfter - loop.studentBefore) / (loop.teacher - loop.studentBefore);
    }
    log(
      `loop ${r.status}: student before ${pct(loop.studentBefore)} → after ${pct(loop.studentAfter)}, teacher ${pct(loop.teacher)} on ${loopShift}; clean ${pct(loop.clean.studentBefore)} → ${pct(loop.clean.studentAfter)}; ` +
        `gap closed ${loop.gapClosed === null ? 'n/a' : `${(loop.gapClosed * 100).toFixed(0)}%`}; shift → committed ${fmtMs(r.timeline.shiftToCommitWallMs)} wall (${r.timeline.steps.map((x) => `${x.name} ${fmtMs(x.ms)}`).join(', ')})`,
    );
  }

  // ── loops: every student × every image shift at severity 3, each with its control ──────────
  let loops: LoopRow[] | null = null;
  if (!blocker && deployedPackage && teacher) {
    const students = [resolve(values['student-tfjs']!), ...(values['loop-students'] ? values['loop-students'].split(',').map((d) => resolve(d)) : [])];
    const override = values['retrain-config'] ? (parseJson(readFileSync(values['retrain-config']), values['retrain-config'], 'EDGEKD_INVALID_ARGUMENT') as DistillConfigInput) : undefined;
    const fieldImages = new Float32Array(baselineIdx.length * PIXELS);
    baselineIdx.forEach((j, i) => fieldImages.set(data.test.images.subarray(j * PIXELS, (j + 1) * PIXELS), i * PIXELS));
    loops = await measureLoops({
      students,
      shifts: (values['loop-shifts'] ? values['loop-shifts'].split(',') : LOOP_SHIFTS) as ImageShiftKind[],
      severity: 3,
      teacher: { dir: teacher.dir, model: teacher.model },
      config: (dir) => ({
        ...DEFAULT_LOOP_CONFIG,
        adaptation,
        retrain: { method: 'ssdkd', seed: seed % 100_000, config: merge<DistillConfigInput>(retrainSchedule(quick), { ...(readRunRecord(dir).trainSetSize ? { trainSetSize: readRunRecord(dir).trainSetSize } : {}), ...override }) },
      }),
      pool: { images: clean.images, labels: Int32Array.from(poolIdx, (j) => labels[j]!) },
      field: { images: fieldImages, count: baselineIdx.length },
      geometry: GEOMETRY,
      seed,
      workDir: join(workDir, 'loops'),
      log,
    });
  }

  function shiftedImages(key: string): { images: Float32Array; labels: number[] } {
    const [kind, sev] = key.split('/') as [ImageShiftKind, string];
    const srnd = createRandom(seed + 100 + Number(sev));
    const images = new Float32Array(poolIdx.length * PIXELS);
    poolIdx.forEach((j, i) => images.set(applyImageShift(data.test.images.subarray(j * PIXELS, (j + 1) * PIXELS), kind, Number(sev), GEOMETRY, srnd), i * PIXELS));
    return { images, labels: poolIdx.map((j) => labels[j]!) };
  }

  // ── report ──────────────────────────────────────────────────────────────────
  const command = `npm run bench:drift -- ${process.argv.slice(2).join(' ')}`.trimEnd(); // every flag, so the line reproduces the run
  const goals = goalVerdicts(rows, severities);
  const md = [
    `Deployed model: ${deployed.description}; feature reference: ${featureRef ? `${teacher!.description}, layer ${featureRef.layer}` : 'none (no teacher)'}; clean accuracy on the evaluation pool ${(cleanAccuracy * 100).toFixed(2)}%. ` +
      `Reference: field baseline of ${baselineSize} test images (half reference, half score bands), disjoint from the ${poolIdx.length}-image evaluation pool. ` +
      `Detector defaults: window ${DEFAULT_DRIFT_CONFIG.windowSize}, hop ${DEFAULT_DRIFT_CONFIG.hop}, z > ${DEFAULT_DRIFT_CONFIG.zThreshold} with p < ${DEFAULT_DRIFT_CONFIG.alpha}/K, ${DEFAULT_DRIFT_CONFIG.k} of ${DEFAULT_DRIFT_CONFIG.n}, Page–Hinkley λ = ${DEFAULT_DRIFT_CONFIG.pageHinkley?.lambda}. ` +
      `Baseline: alibi-detect KSDrift defaults on softmax outputs (10 KS tests, Bonferroni p = 0.05) on consecutive batches of ${DEFAULT_DRIFT_CONFIG.windowSize}.`,
    '',
    `False alarms per 100,000 clean inferences (stream of ${faLength.toLocaleString()} draws from the pool):`,
    '',
    markdownTable(rows.filter((r) => r.shift === 'none'), [
      ['detector', (r) => r.detector],
      ['falseAlarmsPer100k', (r) => r.falseAlarmsPer100k],
    ]),
    '',
    `Median detection delay in samples after the shift starts (${trials} trials each, miss = not detected within ${maxDelay}; rate = share of trials detected):`,
    '',
    delayTable(rows, candidates.map((c) => c.name), severities),
    '',
    `Deployed model accuracy under each shift: ${Object.entries(shiftAccuracy).map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`).join(', ')}.`,
    '',
    loopMarkdown(loop),
    '',
    loops ? `Loops (every student × shift at severity 3, each beside its control: the same retrain schedule with no field information, one per student). Adaptation of the loop's retrain (\`${adaptation.method}\`): ${adaptation.method === 'field-batchnorm' ? '' : `field imitation when a degradation is fitted from the reports' input statistics (drifted window against the line's earlier clean reports): the deployed student re-distilled from the teacher at the schedule's student steps with ${DEFAULT_FIELD_IMITATION.fraction * 100} % of each KD batch degraded by it and the teacher labelling the ${DEFAULT_FIELD_IMITATION.teacherOn} sample (no new synthesis); otherwise `}the deployed student's ${adaptLayers === 'all' ? 'BatchNorm layers (all sketched)' : 'first BatchNorm'} re-estimated from the reports' pooled layer sketches at field weight ${adaptation.fieldWeight} (both chosen on the validation stream of bench/adapt-candidates.ts):\n\n${loopsMarkdown(loops)}` : 'Loops: not run (no student to warm-start from).',
    '',
    `Goals: ${[...goals, loopGoal(loop)].join('; ')}.`,
  ].join('\n');
  writeBenchReport({ name: 'drift', command, rows, markdown: md, extra: { loop, loops, teacher: teacher?.description ?? null, cleanAccuracy, shiftAccuracy, deployed: deployed.description, quick, seed, config: DEFAULT_DRIFT_CONFIG } });
  log(`done; wrote bench/results/drift.json and BENCHMARKS.md`);
  return 0;

  async function accuracyWith(c: Classifier, s: { images: Float32Array; labels: number[] }): Promise<number> {
    const p = await c.predict(s.images, s.labels.length);
    let ok = 0;
    for (let i = 0; i < s.labels.length; i++) if (argmax(p.subarray(i * c.numClasses, (i + 1) * c.numClasses)) === s.labels[i]) ok++;
    return ok / s.labels.length;
  }
}

/** The distillation run's training-set size, which scales the retrain budget like the original's. */
function readRunRecord(dir: string): { trainSetSize?: number } {
  const path = join(dir, 'run-record.json');
  if (!existsSync(path)) return {};
  const rec = parseJson(readFileSync(path), path, 'EDGEKD_INVALID_ARGUMENT') as { config?: { trainSetSize?: unknown } };
  return typeof rec.config?.trainSetSize === 'number' ? { trainSetSize: rec.config.trainSetSize } : {};
}

function loopMarkdown(loop: LoopResult): string {
  const head = `Loop (shifted stream ${loop.shift}, accuracy on the evaluation pool): student before ${pct(loop.studentBefore)}, after ${loop.status === 'completed' ? pct(loop.studentAfter) : 'not measured'}, teacher ${pct(loop.teacher)}; clean pool: student before ${pct(loop.clean.studentBefore)}, after ${loop.status === 'completed' ? pct(loop.clean.studentAfter) : 'not measured'}, teacher ${pct(loop.clean.teacher)}.`;
  if (!loop.config || !loop.timeline) return `${head} The automatic retrain was NOT run: ${loop.reason}.`;
  const c = loop.config;
  const t = loop.timeline;
  const lines = [
    `${head}${loop.status === 'completed' ? ` Gap closed: ${loop.gapClosed === null ? 'n/a (the teacher is not better than the student on this stream)' : `${(loop.gapClosed * 100).toFixed(0)}%`}.` : ` The retrain did not produce a committed model: ${loop.outcome}: ${loop.reason}.`}`,
    '',
    `How: ${c.devices} simulated devices (the agent's onnxruntime runtime and drift monitor, reports as protocol envelopes) stream the ${c.baselineSamples}-image baseline split, disjoint from the evaluation pool, at ${c.inferencesPerSecond} inferences/s of stream time each: ${c.baselineSamples} clean (field baseline), ${c.cleanAfterBaseline} clean, then ${loop.shift}. ` +
      `Reports every ${c.reportEveryMs / 1000} s go to the cloud drift service; the retrain controller ticks every ${c.tickEveryMs / 1000} s under the production policy${Object.keys(c.policy).length ? ` with overrides ${JSON.stringify(c.policy)}` : ''} (alarm open ≥ ${fmtMs(loop.policy!.minAlarmDurationMs)}, cool-down ${fmtMs(loop.policy!.cooldownMs)}, budget ${fmtMs(loop.policy!.computeBudgetMsPerDay)}/day). ` +
      (loop.adaptation?.adaptation === 'field-imitation'
        ? `Engine steps: the field's degradation fitted from the reports' input statistics (${JSON.stringify(loop.adaptation.degradation)}), the deployed student re-distilled from the teacher on its synthetic buffer with that degradation applied to part of each KD batch (${String(loop.adaptation.studentSteps)} student steps, no new synthesis), then export + drift reference + signature. `
        : loop.adaptation?.adaptation === 'field-batchnorm'
        ? `Engine steps: the deployed student's ${((loop.adaptation.adapted as Array<{ layer: string }> | undefined) ?? []).map((a) => a.layer).join(', ')} BatchNorm statistics re-estimated from the reports' pooled layer sketches (no re-distillation), then int8 export (re-folded, recalibrated on the synthetic buffer) + drift reference + signature. `
        : `Engine steps: re-distillation (${c.retrain.method}, warm start from the deployed student and its replay buffer, field BatchNorm targets for ${loop.featureTargets?.join(', ') || 'no layer'}; schedule ${JSON.stringify(c.retrain.config)}), then int8 export + drift reference + signature. `) +
      `Rollout: ${rolloutSentence(loop)} No label and no field image reaches the retrain; only the reports' statistics do.`,
    '',
    `Cohort alarms opened before the shift: ${loop.preShiftCohortAlarms ?? 0}${loop.preShiftCohortAlarms ? " (on the clean stream; the devices' detectors run against the package's synthetic reference until their field baselines are adopted)" : ''}. Decision: ${loop.decision ?? 'none'}. New package: ${loop.package ? `${loop.package.name} v${loop.package.version} (parent ${loop.package.parent})` : 'none'}.`,
    '',
    `Time from the shift to the committed model: ${fmtMs(t.shiftToCommitWallMs)} of benchmark wall time (${fmtMs(t.streamWallMs)} streaming until the decision, then ${t.steps.map((x) => `${x.name} ${fmtMs(x.ms)}`).join(', ')}). ` +
      `In device time: first device alarm after ${t.firstDeviceAlarmSamples ?? 'n/a'} shifted inferences per device; decision after ${fmtMs(t.shiftToDecisionStreamMs)} of stream time (the policy's persistence dominates); committed ${fmtMs(t.shiftToCommitFieldMs)} after the shift.`,
  ];
  return lines.join('\n');
}

function loopGoal(loop: LoopResult): string {
  if (loop.status !== 'completed') return `loop: retrain closes ≥ 50% of the student–teacher gap on the shifted stream: NOT measured (${loop.reason ?? loop.outcome})`;
  if (loop.gapClosed === null) return `loop: no student–teacher gap on ${loop.shift} to close (student ${pct(loop.studentBefore)}, teacher ${pct(loop.teacher)}); after ${pct(loop.studentAfter)}`;
  return `loop: retrain closes ${(loop.gapClosed * 100).toFixed(0)}% of the student–teacher gap on ${loop.shift} (goal ≥ 50%, no human step): ${loop.gapClosed >= 0.5 ? 'met' : 'NOT met'} on this shift only (every shift and the control: the loops table)`;
}

function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return 'n/a';
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 1000).toFixed(1)} s`;
}

function goalVerdicts(rows: Row[], severities: number[]): string[] {
  const combined = rows.filter((r) => r.detector === 'combined');
  const fa = combined.find((r) => r.shift === 'none')!.falseAlarmsPer100k;
  const mid = combined.filter((r) => r.shift !== 'none' && r.severity >= 3);
  const within = mid.filter((r) => r.delaySamples !== null && r.delaySamples <= 1024);
  return [
    `combined detector false alarms ${fa} per 100k (goal ≤ 1): ${fa <= 1 ? 'met' : 'NOT met'}`,
    `combined detector median delay ≤ 1,024 at severity ≥ 3 in ${within.length} of ${mid.length} shift/severity cells (goal: all): ${within.length === mid.length ? 'met' : `NOT met (${mid.filter((r) => !within.includes(r)).map((r) => `${r.shift}/${r.severity}`).join(', ')})`}`,
    `severities measured: ${severities.join(', ')}`,
  ];
}

function delayTable(rows: Row[], names: string[], severities: number[]): string {
  const cells = SHIFT_KINDS.flatMap((k) => severities.map((s) => [k, s] as const));
  const header = `| detector | ${cells.map(([k, s]) => `${k} ${s}`).join(' | ')} |`;
  const sep = `| --- | ${cells.map(() => '---').join(' | ')} |`;
  const body = names.map((n) => {
    const v = cells.map(([k, s]) => {
      const r = rows.find((x) => x.detector === n && x.shift === k && x.severity === s);
      if (!r) return '–';
      return r.delaySamples === null ? `miss (${Math.round((r.detectionRate ?? 0) * 100)}%)` : `${r.delaySamples}${r.detectionRate !== null && r.detectionRate < 1 ? ` (${Math.round(r.detectionRate * 100)}%)` : ''}`;
    });
    return `| ${n} | ${v.join(' | ')} |`;
  });
  return [header, sep, ...body].join('\n');
}

// ── deployed model resolution ───────────────────────────────────────────────────

/**
 * The teacher: a finished one (model card present), else the training checkpoint of the default
 * teacher if one exists (named as such in the results), else none.
 */
async function resolveTeacher(flag: string | undefined, log: (m: string) => void): Promise<{ model: tf.LayersModel; description: string; complete: boolean; dir: string } | null> {
  const dir = resolve(flag ?? 'models/teachers/fashion-mnist-lenet5-bn');
  if (existsSync(join(dir, 'model-card.json'))) {
    const t = await loadTeacher(dir);
    return { model: t.model, description: `teacher ${relative(process.cwd(), dir) || dir}`, complete: true, dir };
  }
  const { loadModel } = await import('../cloud/zoo');
  for (const d of [dir, join(dir, 'checkpoint')]) {
    if (existsSync(join(d, 'model.json')) && existsSync(join(d, 'weights.bin'))) {
      log(`teacher: no finished teacher in ${dir}; using its training checkpoint ${d}`);
      return { model: await loadModel(d), description: `teacher training checkpoint ${relative(process.cwd(), d) || d}`, complete: false, dir: d };
    }
  }
  return null;
}

async function resolveDeployed(
  studentOnnx: string | undefined,
  studentTfjs: string | undefined,
  data: ReturnType<typeof loadFashionMnist>,
  rnd: Random,
  log: (m: string) => void,
): Promise<Classifier> {
  const onnxPath = studentOnnx ?? findFirst(['models/students'], '.onnx');
  if (onnxPath) return onnxClassifier(resolve(onnxPath), `student ONNX ${onnxPath} (onnxruntime-node)`);
  if (studentTfjs) {
    const { loadModel } = await import('../cloud/zoo');
    return tfjsClassifier(await loadModel(resolve(studentTfjs)), `student (tfjs) ${studentTfjs}`);
  }
  log('no distilled student found (models/students/**.onnx, --student, --student-tfjs): training a stand-in softmax-regression model on the train split');
  return trainStandIn(data, rnd);
}

function findFirst(dirs: string[], ext: string): string | undefined {
  for (const d of dirs) {
    if (!existsSync(d)) continue;
    const stack = [d];
    while (stack.length) {
      const cur = stack.pop()!;
      for (const e of readdirSync(cur, { withFileTypes: true })) {
        const p = join(cur, e.name);
        if (e.isDirectory()) stack.push(p);
        else if (e.name.endsWith(ext)) return p;
      }
    }
  }
  return undefined;
}

async function onnxClassifier(path: string, description: string): Promise<Classifier> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(path);
  const inputName = session.inputNames[0]!;
  const outputName = session.outputNames.find((n) => /prob/i.test(n)) ?? session.outputNames[0]!;
  const predict = async (images: Float32Array, count: number): Promise<Float32Array> => {
    const batch = 256;
    let out: Float32Array | null = null;
    let k = 0;
    for (let i = 0; i < count; i += batch) {
      const n = Math.min(batch, count - i);
      const t = new ort.Tensor('float32', images.slice(i * PIXELS, (i + n) * PIXELS), [n, H, W, 1]);
      // Only the class output: packages also carry the teacher-probe outputs for the monitor.
      const r = await session.run({ [inputName]: t }, [outputName]);
      const y = r[outputName]!.data as Float32Array;
      k = y.length / n;
      if (!out) out = new Float32Array(count * k);
      out.set(softmaxRowsIfLogits(y, k), i * k);
    }
    return out!;
  };
  const probe = await predict(new Float32Array(PIXELS), 1);
  return { description, predict, numClasses: probe.length };
}

function tfjsClassifier(model: tf.LayersModel, description: string): Classifier {
  const k = (model.outputs[0]!.shape[1] as number) ?? 10;
  return {
    description,
    numClasses: k,
    async predict(images, count) {
      const out = new Float32Array(count * k);
      const batch = 256;
      for (let i = 0; i < count; i += batch) {
        const n = Math.min(batch, count - i);
        const y = tf.tidy(() => tf.softmax(model.predict(tf.tensor4d(images.subarray(i * PIXELS, (i + n) * PIXELS), [n, H, W, 1])) as tf.Tensor));
        out.set(await y.data(), i * k);
        y.dispose();
      }
      return out;
    },
  };
}

/** Softmax per row unless the rows already look like probabilities. */
function softmaxRowsIfLogits(y: Float32Array, k: number): Float32Array {
  const out = new Float32Array(y.length);
  for (let i = 0; i < y.length; i += k) {
    const row = y.subarray(i, i + k);
    let sum = 0;
    let neg = false;
    for (const v of row) {
      sum += v;
      if (v < 0) neg = true;
    }
    out.set(!neg && Math.abs(sum - 1) < 1e-3 ? row : softmaxRows(row, k), i);
  }
  return out;
}

/**
 * Stand-in deployed model when no distilled student exists yet: multinomial logistic regression on
 * raw pixels, trained by mini-batch SGD on the real train split. Drift detection only needs a
 * classifier's outputs; the stand-in is named as such in every result.
 */
function trainStandIn(data: ReturnType<typeof loadFashionMnist>, rnd: Random): Classifier {
  const k = data.info.numClasses;
  const w = new Float32Array(PIXELS * k);
  const b = new Float32Array(k);
  const n = data.train.count;
  const lr = 0.05;
  const z = new Float64Array(k);
  for (let epoch = 0; epoch < 3; epoch++) {
    const order = shuffle(n, rnd);
    for (const j of order) {
      const x = data.train.images.subarray(j * PIXELS, (j + 1) * PIXELS);
      let m = -Infinity;
      for (let c = 0; c < k; c++) {
        let s = b[c]!;
        for (let p = 0; p < PIXELS; p++) s += x[p]! * w[p * k + c]!;
        z[c] = s;
        m = Math.max(m, s);
      }
      let sum = 0;
      for (let c = 0; c < k; c++) sum += (z[c] = Math.exp(z[c]! - m));
      const y = data.train.labels[j]!;
      const step = lr / (1 + epoch);
      for (let c = 0; c < k; c++) {
        const g = z[c]! / sum - (c === y ? 1 : 0);
        if (Math.abs(g) < 1e-4) continue;
        b[c]! -= step * g;
        for (let p = 0; p < PIXELS; p++) w[p * k + c]! -= step * g * x[p]! * 0.1;
      }
    }
  }
  return {
    description: 'stand-in softmax regression on pixels (no distilled student was available)',
    numClasses: k,
    async predict(images, count) {
      const out = new Float32Array(count * k);
      for (let i = 0; i < count; i++) {
        const x = images.subarray(i * PIXELS, (i + 1) * PIXELS);
        let m = -Infinity;
        for (let c = 0; c < k; c++) {
          let s = b[c]!;
          for (let p = 0; p < PIXELS; p++) s += x[p]! * w[p * k + c]!;
          z[c] = s;
          m = Math.max(m, s);
        }
        let sum = 0;
        for (let c = 0; c < k; c++) sum += (z[c] = Math.exp(z[c]! - m));
        for (let c = 0; c < k; c++) out[i * k + c] = z[c]! / sum;
      }
      return out;
    },
  };
}

/**
 * The teacher-probe statistics for a batch of images with a tfjs conv2d (wasm), for speed: the
 * same quantity the agent computes per inference with `runConvProbe` (conv-probe.test.ts checks
 * the two agree). A spot check against runConvProbe guards it here too.
 */
function probeBatched(images: Float32Array, count: number, probe: ConvProbe): FeatureSample[] {
  const out: FeatureSample[] = [];
  const kernel = tf.tensor4d(Float32Array.from(probe.kernel), [...probe.kernelShape]);
  const bias = probe.bias ? tf.tensor1d(Float32Array.from(probe.bias)) : null;
  const c = probe.kernelShape[3];
  for (let i = 0; i < count; i += 500) {
    const n = Math.min(500, count - i);
    const [m, q] = tf.tidy(() => {
      let y = tf.conv2d(tf.tensor4d(images.subarray(i * PIXELS, (i + n) * PIXELS), [n, H, W, 1]), kernel, probe.strides, probe.padding);
      if (bias) y = tf.add(y, bias);
      return [y.mean([1, 2]).dataSync(), y.square().mean([1, 2]).dataSync()];
    });
    for (let j = 0; j < n; j++) out.push({ mean: Array.from(m!.subarray(j * c, (j + 1) * c)), meanSquare: Array.from(q!.subarray(j * c, (j + 1) * c)) });
  }
  kernel.dispose();
  bias?.dispose();
  const check = runConvProbe(images.subarray(0, PIXELS), H, W, probe);
  const worst = Math.max(...Array.from(check.mean, (v, o) => Math.abs(v - out[0]!.mean[o]!) / (1 + Math.abs(v))));
  if (worst > 1e-3) throw new Error(`bench probe disagrees with runConvProbe (relative error ${worst})`);
  return out;
}

function shuffle(n: number, r: Random): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = r.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

function argmax(p: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < p.length; i++) if (p[i]! > p[best]!) best = i;
  return best;
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(2)}%`);

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
