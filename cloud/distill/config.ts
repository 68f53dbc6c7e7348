import { EdgekdError } from '../../shared/errors';
import type { AugmentConfig } from './augment';
import { defaultModulation, type ModulationConfig } from './modulating';
import type { MetaSynthesisConfig, PixelSynthesisConfig } from './synthesizer';

/**
 * Every knob of a distillation run. Defaults: [V] = Fast-DFKD's published value, [R] = a
 * reconstruction or a CPU-scale choice (see README.md). Methods are presets over this object.
 */
export const dataFreeMethods = [
  'noise',
  'deepinv',
  'fast',
  'fast-own',
  'fast-budget',
  'fast-budget-eq',
  'ssdkd',
  'ssdkd-no-modulation',
  'ssdkd-no-diversity',
  'ssdkd-no-difficulty',
  'ssdkd-no-priority',
  'ssdkd-priority-gen',
  'ssdkd-no-eviction',
] as const;
export const realDataMethods = ['real-kd', 'student-real'] as const;
export const allMethods = [...realDataMethods, ...dataFreeMethods] as const;
export type DataFreeMethod = (typeof dataFreeMethods)[number];
export type RealDataMethod = (typeof realDataMethods)[number];
export type DistillMethod = (typeof allMethods)[number];

export interface KdConfig {
  /** [V] 20 */
  temperature: number;
  /** [V] SGD lr 0.2, momentum 0.9, weight decay 1e-4, cosine to etaMin after warm-up. */
  lr: number;
  momentum: number;
  weightDecay: number;
  etaMin: number;
}

export interface BufferConfig {
  /**
   * Samples generated over the run per buffer slot. 1 = generate the budget once and keep it (a
   * memory bank, as Fast-DFKD); > 1 = the dynamic buffer of SSD-KD keeps refreshing a set of fixed
   * size with partial, ordered insertion and eviction ("update partially"). [R]: the paper's
   * 10% is the size of the synthetic set; how many samples it generated to fill it is not public.
   */
  generationFactor: number;
  /** Fraction of each synthesised batch offered for insertion. */
  insertFraction: number;
  ordered: boolean;
  balanced: boolean;
  evict: boolean;
  prioritized: boolean;
  /** PER α [R, PER default 0.6]. */
  alpha: number;
  /** PER β₀, annealed linearly to 1 over the KD steps [R, PER default 0.4]. */
  beta0: number;
  epsilon: number;
  /**
   * Priority sampling in the generator's objective (the method's E_{x=δ∘g(z)}): the adversarial
   * term of each fresh sample is weighted by the probability δ would replay it, (KL_i + ε)^α,
   * normalised to mean 1. Off by default; `ssdkd-priority-gen` turns it on.
   */
  priorityInGenerator: boolean;
  /**
   * How the importance-sampling weights of a prioritized batch are scaled. `max`: PER's w / max w,
   * so every weight is ≤ 1 and the batch's mean weight (the student's effective learning rate
   * multiplier) falls as priorities spread. `mean`: w / mean w, the same relative correction at
   * mean 1, as φ is normalised, so priority sampling changes which samples are seen and not the
   * step size. `off`: no correction (weights 1).
   */
  importanceNorm: 'max' | 'mean' | 'off';
}

export interface ModulationUse extends ModulationConfig {
  inSynthesis: boolean;
  inInsertion: boolean;
  inKd: boolean;
  /**
   * Whether φ's difficulty term also weights the KD loss (the diversity term always does when
   * `inKd`). Measured off by default [R]: focal weighting of the KD loss starves the student of
   * the confident samples (quick schedule, seed 1: 47% with it vs 57% without).
   */
  difficultyInKd: boolean;
  /** Draw synthesis targets against the buffer's class imbalance (uniform when off, as Fast). */
  balancedTargets: boolean;
}

export interface DistillConfig {
  epochs: number;
  /** Epochs of synthesis only, before KD starts [V: 20 of 220]. */
  warmupEpochs: number;
  kdStepsPerEpoch: number;
  batchSize: number;
  /**
   * Size of the synthetic set the student learns from (the buffer capacity), as a fraction of
   * `trainSetSize`. In (0, 1]. Samples generated = budget · trainSetSize · buffer.generationFactor.
   */
  budget: number;
  /** Size of the teacher's (unseen) training set, read from its model card; scales the budget. */
  trainSetSize: number;
  synthesis: { kind: 'meta' | 'pixel' | 'none' } & MetaSynthesisConfig;
  pixel: PixelSynthesisConfig;
  generator: {
    nz: number;
    ngf: number;
    /**
     * Label conditioning through the latent: each z starts at `labelEmbedding` · e_y (a fixed,
     * seeded unit vector per class) plus N(0, I) noise, so the persistent meta-generator can learn
     * one region of latent space per class instead of creating every class from scratch. 0 = off
     * (Fast-DFKD's unconditional generator).
     */
    labelEmbedding: number;
  };
  kd: KdConfig;
  buffer: BufferConfig;
  modulation: ModulationUse;
  augment: AugmentConfig;
  /** Draws fresh Gaussian noise as KD input instead of a buffer (the `noise` baseline). */
  noiseInput: boolean;
  evalEveryEpochs: number;
  checkpointEveryEpochs: number;
}

export const defaultConfig: DistillConfig = {
  epochs: 60,
  warmupEpochs: 2,
  kdStepsPerEpoch: 100,
  batchSize: 128,
  budget: 0.1,
  trainSetSize: 60_000,
  // Fast-DFKD's loss weights and Fast-5's inner-step count [V]; batch 32 and lr_g 0.02 / lr_z 0.05
  // are CPU-scale choices [R]: at a 10% budget the generator gets few updates, and smaller batches
  // with a larger step learned faster on the probe runs (bn loss 22 → 13 in 20 rounds vs 29 → 25 at
  // batch 128). 5 inner steps instead of 2 lifted every budgeted method most (quick schedule, seed 1:
  // fast-budget 32.8% → 58.5%, ssdkd 22.0% → 44.9%) for 2-2.5x the synthesis time.
  // bnWeight 1 / ohWeight 2 and a label-conditioned latent (generator.labelEmbedding 6) replace
  // Fast-DFKD's bn 10 / oh 0.5 with an unconditional generator [R, chosen on the validation split,
  // bench:levers]: with Fast's weights the BN term was ~32 of a ~34 loss and the teacher's
  // cross-entropy on the targets ended at 5.3 (16% of samples in their target class); with these,
  // 0.05 (98%), every class within 10% of its target count.
  synthesis: { kind: 'meta', batchSize: 32, gSteps: 5, lrG: 0.02, lrZ: 0.05, bnWeight: 1, ohWeight: 2, advWeight: 1.0, bnMomentum: 0.9 },
  pixel: { batchSize: 64, steps: 20, lr: 0.1, tvWeight: 0.05, bnWeight: 10, ohWeight: 0.5, advWeight: 1.0, bnMomentum: 0 },
  generator: { nz: 64, ngf: 8, labelEmbedding: 6 },
  kd: { temperature: 20, lr: 0.1, momentum: 0.9, weightDecay: 1e-4, etaMin: 2e-4 },
  buffer: { generationFactor: 1, insertFraction: 1, ordered: false, balanced: false, evict: false, prioritized: false, alpha: 0.6, beta0: 0.4, epsilon: 1e-3, priorityInGenerator: false, importanceNorm: 'max' },
  modulation: { ...defaultModulation, inSynthesis: false, inInsertion: false, inKd: false, difficultyInKd: false, balancedTargets: false },
  augment: { pad: 2, flip: true, groups: 8 },
  noiseInput: false,
  evalEveryEpochs: 1,
  checkpointEveryEpochs: 1,
};

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };
export type DistillConfigInput = DeepPartial<DistillConfig>;

const ssdkdParts: DistillConfigInput = {
  buffer: { generationFactor: 2, insertFraction: 0.75, ordered: true, balanced: true, evict: true, prioritized: true },
  modulation: { inSynthesis: true, inInsertion: true, inKd: true, balancedTargets: true, diversity: true, difficulty: true },
};

/** What each method changes relative to `defaultConfig`. */
export function methodPreset(method: DataFreeMethod): DistillConfigInput {
  switch (method) {
    case 'noise':
      return { synthesis: { kind: 'none' }, noiseInput: true, warmupEpochs: 0 };
    case 'deepinv':
      return { synthesis: { kind: 'pixel' }, budget: 1 };
    case 'fast':
      // Fast-DFKD: a memory bank that keeps every synthetic sample, at the full training-set scale.
      return { budget: 1 };
    case 'fast-own':
      // The same bank on a schedule of its own: student steps scaled by bank / buffer (see resolveConfig).
      return { budget: 1 };
    case 'fast-budget':
      return {};
    case 'fast-budget-eq':
      // Equal work: as many samples as ssdkd (same generation factor) into a buffer of the same size,
      // refreshed first-in first-out, sampled uniformly, no φ.
      return { buffer: { generationFactor: ssdkdParts.buffer!.generationFactor!, evict: true } };
    case 'ssdkd':
      return ssdkdParts;
    case 'ssdkd-no-modulation':
      return merge(ssdkdParts, { buffer: { ordered: false }, modulation: { inSynthesis: false, inInsertion: false, inKd: false, balancedTargets: false } });
    case 'ssdkd-no-diversity':
      return merge(ssdkdParts, { modulation: { diversity: false } });
    case 'ssdkd-no-difficulty':
      return merge(ssdkdParts, { modulation: { difficulty: false } });
    case 'ssdkd-no-priority':
      return merge(ssdkdParts, { buffer: { prioritized: false } });
    case 'ssdkd-priority-gen':
      return merge(ssdkdParts, { buffer: { priorityInGenerator: true } });
    case 'ssdkd-no-eviction':
      return merge(ssdkdParts, { buffer: { evict: false } });
  }
}

export function isDataFreeMethod(m: string): m is DataFreeMethod {
  return (dataFreeMethods as readonly string[]).includes(m);
}

export function isMethod(m: string): m is DistillMethod {
  return (allMethods as readonly string[]).includes(m);
}

/** Deep merge of plain objects; arrays and scalars in `b` replace those in `a`. */
export function merge<T>(a: T, b: DeepPartial<T> | undefined): T {
  if (b === undefined) return a;
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [k, v] of Object.entries(b as Record<string, unknown>)) {
    if (v === undefined) continue;
    const cur = out[k];
    out[k] = v !== null && typeof v === 'object' && !Array.isArray(v) && cur !== null && typeof cur === 'object' ? merge(cur, v as never) : v;
  }
  return out as T;
}

/**
 * Resolves defaults ← method preset ← caller overrides (a caller's explicit knob wins over the
 * preset's). The one exception is the budget of `fast` and `deepinv`: their full bank is what
 * defines them, so a caller's budget (meant for the budgeted methods of the same run) applies to
 * them only with `forceBudget`.
 */
export function resolveConfig(method: DataFreeMethod, overrides: DistillConfigInput = {}, opts: { forceBudget?: boolean } = {}): DistillConfig {
  const preset = methodPreset(method);
  const cfg = merge(merge(defaultConfig, preset), overrides);
  if (preset.budget !== undefined && !opts.forceBudget) cfg.budget = preset.budget;
  if (method === 'fast-own') {
    // Fast-DFKD replays its bank hundreds of times; here each bank sample is seen as often as a
    // buffer slot of the budgeted methods: student steps × (bank size / their buffer size).
    const othersBudget = overrides.budget ?? defaultConfig.budget;
    cfg.kdStepsPerEpoch = Math.round(cfg.kdStepsPerEpoch * (cfg.budget / othersBudget));
  }
  validateConfig(cfg);
  return cfg;
}

export function validateConfig(cfg: DistillConfig): void {
  if (!(cfg.budget > 0 && cfg.budget <= 1)) {
    throw new EdgekdError('EDGEKD_BUDGET_OUT_OF_RANGE', `budget must be in (0, 1] (a fraction of the training-set size ${cfg.trainSetSize}), got ${cfg.budget}`);
  }
  const positiveInts: Array<[string, number]> = [
    ['epochs', cfg.epochs],
    ['kdStepsPerEpoch', cfg.kdStepsPerEpoch],
    ['batchSize', cfg.batchSize],
    ['synthesis.batchSize', cfg.synthesis.batchSize],
    ['synthesis.gSteps', cfg.synthesis.gSteps],
    ['trainSetSize', cfg.trainSetSize],
  ];
  for (const [name, v] of positiveInts) {
    if (!Number.isInteger(v) || v < 1) throw new EdgekdError('EDGEKD_CONFIG_INVALID', `${name} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(cfg.warmupEpochs) || cfg.warmupEpochs < 0 || cfg.warmupEpochs >= cfg.epochs) {
    throw new EdgekdError('EDGEKD_CONFIG_INVALID', `warmupEpochs must be in [0, epochs), got ${cfg.warmupEpochs}`);
  }
  if (!(cfg.buffer.generationFactor >= 1 && cfg.buffer.generationFactor <= 100)) throw new EdgekdError('EDGEKD_CONFIG_INVALID', `buffer.generationFactor must be in [1, 100], got ${cfg.buffer.generationFactor}`);
  if (!(cfg.buffer.insertFraction > 0 && cfg.buffer.insertFraction <= 1)) throw new EdgekdError('EDGEKD_CONFIG_INVALID', 'buffer.insertFraction must be in (0, 1]');
}

/** Synthesis rounds of the run: budget · trainSetSize · generationFactor samples, in whole batches. */
export function synthesisRounds(cfg: DistillConfig): number {
  if (cfg.synthesis.kind === 'none') return 0;
  const batch = cfg.synthesis.kind === 'pixel' ? cfg.pixel.batchSize : cfg.synthesis.batchSize;
  const factor = cfg.synthesis.kind === 'pixel' ? 1 : cfg.buffer.generationFactor;
  return Math.max(1, Math.ceil((cfg.budget * cfg.trainSetSize * factor) / batch));
}

/** Buffer capacity: the budget, rounded so that a factor-1 run keeps every whole batch it made. */
export function bufferCapacity(cfg: DistillConfig): number {
  const batch = cfg.synthesis.kind === 'pixel' ? cfg.pixel.batchSize : cfg.synthesis.batchSize;
  const factor = cfg.synthesis.kind === 'pixel' ? 1 : cfg.buffer.generationFactor;
  return Math.max(1, Math.ceil((synthesisRounds(cfg) * batch) / factor));
}

/** Rounds that fall in epoch e when R rounds are spread evenly over E epochs. */
export function roundsInEpoch(totalRounds: number, epochs: number, e: number): number {
  return Math.floor((totalRounds * (e + 1)) / epochs) - Math.floor((totalRounds * e) / epochs);
}
