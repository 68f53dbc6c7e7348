import * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';
import { isRealData } from '../data/provenance';
import { augmentPixels } from './augment-pixels';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint';
import { bufferCapacity, resolveConfig, roundsInEpoch, synthesisRounds, type DataFreeMethod, type DistillConfig, type DistillConfigInput } from './config';
import type { Evaluator } from './evaluator';
import type { DistillEvent, DistillEventListener } from './events';
import { balancedTargets, modulate } from './modulating';
import { importanceWeights, ReplayBuffer, type PriorityStats } from './replay-buffer';
import { createRandom, type Random } from '../../shared/random/seeded-random';
import { cosineLr, StudentTrainer } from './student-trainer';
import { softmaxRows } from '../../shared/math/softmax-rows';
import { MetaSynthesizer, PixelSynthesizer, type Synthesizer, type SynthesisLosses } from './synthesizer';
import { wrapTeacher, type BnTarget, type TeacherView } from './teacher';

/**
 * Data-free distillation: the SSD-KD loop and the data-free baselines from one code path.
 *
 * By construction this function receives no dataset: its options hold a teacher, a student, the
 * input domain (normalisation range, from the teacher's model card) and at most an `Evaluator`,
 * which scores a model on the test split and exposes no image. The entry also refuses any option
 * value tagged as real data (EDGEKD_REAL_DATA_FORBIDDEN); the replay buffer admits only
 * generator output. Real-data references live in `real-data-baselines.ts`.
 */
export interface InputDomain {
  /** Model-input values of the darkest and brightest pixel. */
  range: { low: number; high: number };
  /** Whether a horizontal flip keeps the class (used by augmentation). */
  flipInvariant: boolean;
}

export interface WarmStart {
  /** A buffer saved by an earlier run (loadBuffer); its samples seed this run's buffer. */
  buffer?: ReplayBuffer;
  /** Replace the BN-matching targets of named teacher BN layers (e.g. field feature statistics). */
  bnTargets?: BnTarget[];
  /**
   * Rewrites each KD batch (host pixels after augmentation, [n, h, w, c]) into what the student sees
   * and what the teacher labels: the retrain's field-conditioned imitation (student on degraded
   * synthetic samples, teacher on the clean or the same ones). Pixels are synthetic only; the step
   * count and every other part of the schedule are unchanged.
   */
  kdInputs?: (pixels: Float32Array, shape: readonly [number, number, number, number], random: Random) => { student: Float32Array; teacher: Float32Array };
}

export interface DataFreeDistillOptions {
  teacher: tf.LayersModel;
  /** The student to train in place (fresh from the zoo, or loaded weights for a warm start). */
  student: tf.LayersModel;
  method: DataFreeMethod;
  seed: number;
  input: InputDomain;
  config?: DistillConfigInput;
  /** Let `config.budget` override the full-bank budget of `fast`/`deepinv`. */
  forceBudget?: boolean;
  evaluator?: Evaluator;
  onEvent?: DistillEventListener;
  /** Folder for checkpoints (written every `checkpointEveryEpochs`). */
  checkpointDir?: string;
  /** Continue from the checkpoint in `checkpointDir` when there is one. */
  resume?: boolean;
  warmStart?: WarmStart;
  signal?: AbortSignal;
  /** Milliseconds clock (injectable for tests). */
  now?: () => number;
  /** Stop after this many epochs of this call (tests simulate a kill with it); the run stays resumable. */
  stopAfterEpochs?: number;
}

/**
 * How well the generator hit its targets in one epoch's synthesis rounds, measured on the images
 * it returned (un-augmented): the teacher's mean cross-entropy on the targets, and per class how
 * many samples were asked for (`targetHistogram`) and how many the teacher labels so
 * (`labelHistogram`). Uniform guessing scores ln C; above that the teacher confidently disagrees.
 */
export interface SynthesisStats {
  samples: number;
  teacherTargetCE: number;
  /** Fraction of samples whose teacher top class is the target. */
  targetHitRate: number;
  targetHistogram: number[];
  labelHistogram: number[];
}

export interface EpochRecord {
  epoch: number;
  synthesis: SynthesisStats | null;
  testAccuracy: number | null;
  kdLoss: number | null;
  /** Mean per-sample KD weight (importance × φ) over the epoch's steps: the student's step-size multiplier. */
  kdWeightMean: number | null;
  samplesGenerated: number;
  bufferSize: number;
  classHistogram: number[];
  priority: PriorityStats;
  synthesisSeconds: number;
  distillSeconds: number;
}

export interface DistillResult {
  method: DataFreeMethod;
  seed: number;
  config: DistillConfig;
  epochsCompleted: number;
  finished: boolean;
  finalAccuracy: number | null;
  bestAccuracy: number | null;
  samplesGenerated: number;
  bufferCapacity: number;
  /** Student optimisation steps actually taken. */
  studentSteps: number;
  /** Target-hitting statistics of the last epoch that synthesised (the end of synthesis). */
  synthesis: SynthesisStats | null;
  history: EpochRecord[];
  synthesisSeconds: number;
  distillSeconds: number;
  /** Synthesis + distillation + buffer bookkeeping; excludes evaluation and checkpoint writes. */
  totalSeconds: number;
  evalSeconds: number;
  buffer: ReplayBuffer | null;
  bnLayers: string[];
}

/** Checks the teacher/student pair before any work. */
export function checkPair(teacher: tf.LayersModel, student: tf.LayersModel): void {
  const ti = teacher.inputs[0]!.shape.slice(1);
  const si = student.inputs[0]!.shape.slice(1);
  const to = teacher.outputs[0]!.shape.at(-1);
  const so = student.outputs[0]!.shape.at(-1);
  if (ti.join() !== si.join()) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `teacher input [${ti.join(', ')}] differs from student input [${si.join(', ')}]`);
  if (to !== so) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `teacher has ${to} classes, student has ${so}`);
}

function refuseRealData(opts: object): void {
  for (const [k, v] of Object.entries(opts)) {
    if (isRealData(v)) throw new EdgekdError('EDGEKD_REAL_DATA_FORBIDDEN', `data-free distillation was handed real dataset images in option '${k}'; only the evaluator may see the test split`);
  }
}

const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

export async function distillDataFree(opts: DataFreeDistillOptions): Promise<DistillResult> {
  refuseRealData(opts);
  if (opts.warmStart) refuseRealData(opts.warmStart);
  const now = opts.now ?? (() => performance.now());
  const cfg = resolveConfig(opts.method, opts.config, { forceBudget: opts.forceBudget });
  checkPair(opts.teacher, opts.student);
  const teacher = wrapTeacher(opts.teacher, opts.warmStart?.bnTargets);
  try {
    return await runLoop(opts, cfg, teacher, now);
  } finally {
    teacher.dispose();
  }
}

async function runLoop(opts: DataFreeDistillOptions, cfg: DistillConfig, teacher: TeacherView, now: () => number): Promise<DistillResult> {
  const emit = (e: DistillEvent) => opts.onEvent?.(e);
  const C = teacher.numClasses;
  const [h, w, c] = teacher.inputShape;
  const dim = h * w * c;
  const rng = createRandom(opts.seed);
  const range = opts.input.range;
  const aug = { ...cfg.augment, flip: cfg.augment.flip && opts.input.flipInvariant };

  const rounds = synthesisRounds(cfg);
  const synBatch = cfg.synthesis.kind === 'pixel' ? cfg.pixel.batchSize : cfg.synthesis.batchSize;
  const budgetSamples = rounds * synBatch;
  // Without synthesis a warm start keeps its whole buffer (the budget sizes what synthesis makes).
  const capacity = cfg.synthesis.kind === 'none' && opts.warmStart?.buffer ? Math.max(1, opts.warmStart.buffer.size) : bufferCapacity(cfg);
  const bufferOptions = { capacity, sampleShape: [h, w, c] as [number, number, number], numClasses: C, prioritized: cfg.buffer.prioritized, alpha: cfg.buffer.alpha, epsilon: cfg.buffer.epsilon };

  let buffer: ReplayBuffer | null = null;
  // A warm start with synthesis 'none' trains on the warm buffer alone (a retrain's continuation).
  if (cfg.synthesis.kind !== 'none' || opts.warmStart?.buffer) {
    if (opts.warmStart?.buffer) {
      const warm = opts.warmStart.buffer;
      if (warm.options.sampleShape.join() !== [h, w, c].join() || warm.options.numClasses !== C) {
        throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', 'the warm-start buffer holds samples of another shape or class count');
      }
      const { header, body } = warm.serialize();
      buffer = ReplayBuffer.deserialize(header, body, bufferOptions);
    } else buffer = new ReplayBuffer(bufferOptions);
  }

  const genCfg = { nz: cfg.generator.nz, ngf: cfg.generator.ngf, outputShape: [h, w, c] as [number, number, number], range };
  const synth: Synthesizer | null =
    cfg.synthesis.kind === 'meta'
      ? new MetaSynthesizer(teacher, genCfg, cfg.synthesis, aug, rng)
      : cfg.synthesis.kind === 'pixel'
        ? new PixelSynthesizer(teacher, [h, w, c], range, cfg.pixel, aug, rng)
        : null;
  const trainer = new StudentTrainer(opts.student, cfg.kd);
  const embedding = cfg.generator.labelEmbedding > 0 ? classEmbedding(opts.seed, C, cfg.generator.nz, cfg.generator.labelEmbedding) : null;
  const runKey = JSON.stringify({ method: opts.method, seed: opts.seed, cfg });

  let startEpoch = 0;
  const counters = { samplesGenerated: 0, synthesisMs: 0, distillMs: 0, otherMs: 0, evalMs: 0, kdStepsDone: 0, roundsDone: 0, best: -1 };
  let history: EpochRecord[] = [];
  let resumedFrom: number | null = null;
  if (opts.resume && opts.checkpointDir && hasCheckpoint(opts.checkpointDir)) {
    const ck = loadCheckpoint(opts.checkpointDir, runKey);
    startEpoch = ck.meta.epoch;
    resumedFrom = startEpoch;
    rng.state = ck.meta.rngState;
    Object.assign(counters, ck.meta.counters);
    history = ck.meta.history as EpochRecord[];
    opts.student.setWeights(ck.studentWeights);
    ck.studentWeights.forEach((t) => t.dispose());
    trainer.restoreOptimizer(ck.studentOptimizer);
    ck.studentOptimizer.slots.forEach((t) => t.dispose());
    if (synth) synth.restore(ck.synth);
    [...ck.synth.params, ...ck.synth.optimizer.slots].forEach((t) => t.dispose());
    ck.synth.ema.forEach((e) => {
      e?.mean.dispose();
      e?.variance.dispose();
    });
    if (ck.buffer) buffer = ck.buffer;
  }

  emit({ type: 'start', method: opts.method, seed: opts.seed, epochs: cfg.epochs, warmupEpochs: cfg.warmupEpochs, kdStepsPerEpoch: cfg.kdStepsPerEpoch, synthesisRounds: rounds, budgetSamples, bufferCapacity: buffer?.capacity ?? 0, resumedFromEpoch: resumedFrom });

  const kdEpochs = cfg.epochs - cfg.warmupEpochs;
  const totalKdSteps = kdEpochs * cfg.kdStepsPerEpoch;
  const mod = cfg.modulation;
  const insertOpts = { fraction: cfg.buffer.insertFraction, ordered: cfg.buffer.ordered, balanced: cfg.buffer.balanced, evict: cfg.buffer.evict };
  const uniform = () => rng.next();
  let epochsThisCall = 0;
  let lastSynthLosses: SynthesisLosses | null = null;

  try {
    for (let epoch = startEpoch; epoch < cfg.epochs; epoch++) {
      if (opts.signal?.aborted) throw new EdgekdError('EDGEKD_RUN_CANCELLED', `run cancelled before epoch ${epoch}; resume from the last checkpoint`);
      const epochStart = now();
      let synthMs = 0;
      let kdMs = 0;
      // ---- inversion ----
      const r = synth ? roundsInEpoch(rounds, cfg.epochs, epoch) : 0;
      const stats = r > 0 ? newStats(C) : null;
      for (let k = 0; k < r; k++) {
        const t0 = now();
        const hist = buffer!.classHistogram();
        const targets = mod.balancedTargets ? balancedTargets(hist, C, synBatch, uniform) : Int32Array.from({ length: synBatch }, () => rng.int(C));
        const out = synth!.synthesize({
          targets,
          student: epoch >= cfg.warmupEpochs ? opts.student : null,
          phi: mod.inSynthesis ? (p) => modulate(p, C, hist, mod, targets) : null,
          ...(embedding ? { latentOffset: latentOffsets(embedding, targets, cfg.generator.nz) } : {}),
          advPriority: cfg.buffer.priorityInGenerator ? { alpha: cfg.buffer.alpha, epsilon: cfg.buffer.epsilon } : null,
        });
        addStats(stats!, out.teacherProbs, targets, C);
        const phiIns = mod.inInsertion ? modulate(out.teacherProbs, C, buffer!.classHistogram(), mod, targets) : new Float32Array(out.batch.size).fill(1);
        const ins = buffer!.insert(out.batch, out.teacherProbs, phiIns, insertOpts);
        counters.samplesGenerated += out.batch.size;
        counters.roundsDone++;
        const dt = now() - t0;
        synthMs += dt;
        lastSynthLosses = out.losses;
        emit({ type: 'synthesis', epoch, round: counters.roundsDone, rounds, losses: out.losses, samplesGenerated: counters.samplesGenerated, ...ins, bufferSize: buffer!.size, seconds: dt / 1000 });
        await yieldToLoop();
      }
      // ---- distillation ----
      let kdLossSum = 0;
      let kdLossN = 0;
      let kdWeightSum = 0;
      if (epoch >= cfg.warmupEpochs && (cfg.noiseInput || (buffer && buffer.size > 0))) {
        trainer.setLr(cosineLr(cfg.kd, epoch - cfg.warmupEpochs, kdEpochs));
        for (let step = 0; step < cfg.kdStepsPerEpoch; step++) {
          const t0 = now();
          const beta = cfg.buffer.beta0 + (1 - cfg.buffer.beta0) * Math.min(1, counters.kdStepsDone / Math.max(1, totalKdSteps - 1));
          const n = cfg.batchSize;
          let indices: Int32Array | null = null;
          let isw: Float32Array | null = null;
          let pixels: Float32Array;
          if (cfg.noiseInput) {
            const mid = (range.low + range.high) / 2;
            const half = (range.high - range.low) / 2;
            pixels = rng.normals(n * dim).map((v) => Math.min(range.high, Math.max(range.low, mid + 0.5 * half * v)));
          } else {
            const s = buffer!.sample(n, beta, uniform);
            indices = s.indices;
            isw = s.weights;
            pixels = buffer!.gather(indices);
          }
          // Augmented on the host (same values and random draws as augmentBatch, one pass instead of ~20 small kernels).
          const host = cfg.noiseInput ? pixels : augmentPixels(pixels, [n, h, w, c], aug, range.low, rng);
          const pair = opts.warmStart?.kdInputs?.(host, [n, h, w, c], rng);
          const x = tf.tensor4d(pair ? pair.student : host, [n, h, w, c]);
          const tLogits = tf.tidy(() => (pair && pair.teacher !== pair.student ? teacher.logits(tf.tensor4d(pair.teacher, [n, h, w, c])) : teacher.logits(x)));
          let weights: Float32Array | undefined = isw && cfg.buffer.prioritized ? importanceWeights(isw, cfg.buffer.importanceNorm) : undefined;
          if (mod.inKd && buffer) {
            const phi = modulate(softmaxRows(tLogits.dataSync() as Float32Array, C), C, buffer.classHistogram(), { ...mod, difficulty: mod.difficulty && mod.difficultyInKd });
            weights = weights ? weights.map((v, i) => v * phi[i]!) : phi;
          }
          kdWeightSum += weights ? weights.reduce((a, v) => a + v, 0) / weights.length : 1;
          const { loss, perSample } = trainer.kdStep(x, tLogits, weights);
          x.dispose();
          tLogits.dispose();
          if (indices && cfg.buffer.prioritized) buffer!.updatePriorities(indices, perSample);
          counters.kdStepsDone++;
          kdLossSum += loss;
          kdLossN++;
          kdMs += now() - t0;
          emit({ type: 'kd-step', epoch, step, stepsPerEpoch: cfg.kdStepsPerEpoch, loss, lr: trainer.lr, beta });
          if (step % 10 === 9) await yieldToLoop();
        }
      }
      counters.synthesisMs += synthMs;
      counters.distillMs += kdMs;
      counters.otherMs += Math.max(0, now() - epochStart - synthMs - kdMs);
      // ---- evaluation (not part of the timed work) ----
      let acc: number | null = null;
      const evalDue = opts.evaluator && ((epoch + 1) % cfg.evalEveryEpochs === 0 || epoch === cfg.epochs - 1);
      if (evalDue) {
        const t0 = now();
        acc = opts.evaluator!.accuracy(opts.student);
        counters.evalMs += now() - t0;
        counters.best = Math.max(counters.best, acc);
      }
      const rec: EpochRecord = {
        epoch,
        synthesis: stats ? finishStats(stats) : null,
        testAccuracy: acc,
        kdLoss: kdLossN ? kdLossSum / kdLossN : null,
        kdWeightMean: kdLossN ? kdWeightSum / kdLossN : null,
        samplesGenerated: counters.samplesGenerated,
        bufferSize: buffer?.size ?? 0,
        classHistogram: buffer?.classHistogram() ?? [],
        priority: buffer?.priorityStats() ?? { min: 0, max: 0, mean: 0, effectiveFraction: 0 },
        synthesisSeconds: synthMs / 1000,
        distillSeconds: kdMs / 1000,
      };
      history.push(rec);
      emit({
        type: 'epoch',
        epoch,
        epochs: cfg.epochs,
        testAccuracy: acc,
        bestAccuracy: counters.best >= 0 ? counters.best : null,
        kdLoss: rec.kdLoss,
        synthesisLosses: lastSynthLosses,
        samplesGenerated: counters.samplesGenerated,
        bufferSize: rec.bufferSize,
        bufferCapacity: buffer?.capacity ?? 0,
        classHistogram: rec.classHistogram,
        priority: rec.priority,
        lr: trainer.lr,
        synthesisSeconds: counters.synthesisMs / 1000,
        distillSeconds: counters.distillMs / 1000,
        elapsedSeconds: (counters.synthesisMs + counters.distillMs + counters.otherMs) / 1000,
      });
      epochsThisCall++;
      const last = epoch === cfg.epochs - 1;
      const stopNow = opts.stopAfterEpochs !== undefined && epochsThisCall >= opts.stopAfterEpochs;
      if (opts.checkpointDir && !last && ((epoch + 1) % cfg.checkpointEveryEpochs === 0 || stopNow || opts.signal?.aborted)) {
        const weights = opts.student.getWeights();
        const st = synth?.state() ?? { params: [], optimizer: { step: 0, slots: [] }, ema: [] };
        const opt = trainer.optimizerState();
        const dir = saveCheckpoint(opts.checkpointDir, {
          meta: { format: 'edgekd-distill-checkpoint', version: 1, runKey, epoch: epoch + 1, rngState: rng.state, counters: { ...counters }, history, emaPresent: [] },
          studentWeights: weights,
          studentOptimizer: opt,
          synth: st,
          buffer,
        });
        opt.slots.forEach((t) => t.dispose());
        [...st.params, ...st.optimizer.slots].forEach((t) => t.dispose());
        st.ema.forEach((e) => {
          e?.mean.dispose();
          e?.variance.dispose();
        });
        emit({ type: 'checkpoint', epoch, dir });
      }
      if (stopNow && !last) return result(false);
    }
    const res = result(true);
    emit({ type: 'done', epochs: cfg.epochs, finalAccuracy: res.finalAccuracy, bestAccuracy: res.bestAccuracy, samplesGenerated: res.samplesGenerated, totalSeconds: res.totalSeconds });
    return res;
  } finally {
    synth?.dispose();
    trainer.dispose();
  }

  function result(finished: boolean): DistillResult {
    const lastAcc = [...history].reverse().find((e) => e.testAccuracy !== null)?.testAccuracy ?? null;
    return {
      method: opts.method,
      seed: opts.seed,
      config: cfg,
      epochsCompleted: history.length,
      finished,
      finalAccuracy: finished ? lastAcc : null,
      bestAccuracy: counters.best >= 0 ? counters.best : null,
      samplesGenerated: counters.samplesGenerated,
      bufferCapacity: buffer?.capacity ?? 0,
      studentSteps: counters.kdStepsDone,
      synthesis: [...history].reverse().find((e) => e.synthesis)?.synthesis ?? null,
      history,
      synthesisSeconds: counters.synthesisMs / 1000,
      distillSeconds: counters.distillMs / 1000,
      totalSeconds: (counters.synthesisMs + counters.distillMs + counters.otherMs) / 1000,
      evalSeconds: counters.evalMs / 1000,
      buffer,
      bnLayers: teacher.bnLayers.map((b) => b.name),
    };
  }
}

/** A fixed unit vector per class, scaled, from a stream of its own (the run's RNG is untouched). */
function classEmbedding(seed: number, classes: number, nz: number, scale: number): Float32Array {
  const v = createRandom(seed + 7919).normals(classes * nz);
  for (let c = 0; c < classes; c++) {
    let norm = 0;
    for (let j = 0; j < nz; j++) norm += v[c * nz + j]! ** 2;
    const k = scale / Math.sqrt(norm || 1);
    for (let j = 0; j < nz; j++) v[c * nz + j] = v[c * nz + j]! * k;
  }
  return v;
}

function latentOffsets(embedding: Float32Array, targets: Int32Array, nz: number): Float32Array {
  const out = new Float32Array(targets.length * nz);
  targets.forEach((y, i) => out.set(embedding.subarray(y * nz, (y + 1) * nz), i * nz));
  return out;
}

interface StatsAcc {
  n: number;
  ce: number;
  hits: number;
  targets: number[];
  labels: number[];
}

function newStats(C: number): StatsAcc {
  return { n: 0, ce: 0, hits: 0, targets: new Array<number>(C).fill(0), labels: new Array<number>(C).fill(0) };
}

function addStats(s: StatsAcc, probs: Float32Array, targets: Int32Array, C: number): void {
  targets.forEach((y, i) => {
    let top = 0;
    for (let c = 1; c < C; c++) if (probs[i * C + c]! > probs[i * C + top]!) top = c;
    s.ce += -Math.log(Math.max(probs[i * C + y]!, 1e-12));
    s.n++;
    s.targets[y]!++;
    s.labels[top]!++;
    if (top === y) s.hits++;
  });
}

function finishStats(s: StatsAcc): SynthesisStats {
  return { samples: s.n, teacherTargetCE: s.n ? s.ce / s.n : 0, targetHitRate: s.n ? s.hits / s.n : 0, targetHistogram: s.targets, labelHistogram: s.labels };
}
