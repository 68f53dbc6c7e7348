import { Type, type Static } from 'typebox';
import { createParser } from '../contracts/parse';

/**
 * Wire contracts of label-free drift detection.
 *
 * `DriftReference` travels inside a model package manifest: it is what "in distribution" means for
 * that model, built without real training data (the student's outputs on synthetic samples, the
 * teacher's BatchNorm running statistics) and optionally replaced on the device by a field baseline
 * taken from the first N inferences after commit.
 *
 * `DriftReport` is the body a device publishes periodically: aggregate statistics only (histograms,
 * means, counts, detector scores). It never carries an input, an output vector or an identifier of
 * a single inference. The fleet protocol wraps it in its report envelope (device id, sequence,
 * timestamps, signature if any).
 *
 * Compatibility rule: these schemas only grow. New fields are optional; no field changes meaning.
 */

export const DRIFT_REFERENCE_VERSION = 1 as const;

const Probability = Type.Number({ minimum: 0, maximum: 1 });
const NonNegative = Type.Number({ minimum: 0 });
const Count = Type.Integer({ minimum: 0 });

/**
 * A one-dimensional distribution summarised by its quantiles at evenly spaced probabilities
 * `0, 1/(q-1), …, 1` (q ≥ 2, values non-decreasing). A two-sample KS statistic against a window is
 * computed from the piecewise-linear CDF through these points; with q = 101 the CDF error is at
 * most 0.01, well below the statistic thresholds used (≥ 0.1).
 */
export const QuantileSketch = Type.Object({
  quantiles: Type.Array(Type.Number(), { minItems: 2, maxItems: 1025 }),
  /** How many samples the quantiles were computed from (the "n" of the reference in KS). */
  sampleCount: Count,
});
export type QuantileSketch = Static<typeof QuantileSketch>;

/**
 * A fixed-bin histogram: `edges` has bins+1 increasing values; values below edges[0] fall into the
 * first bin and above the last edge into the last bin, so no mass is ever dropped.
 */
export const BinnedDistribution = Type.Object({
  edges: Type.Array(Type.Number(), { minItems: 2, maxItems: 257 }),
  /** Reference proportions per bin (sum ≈ 1), length edges.length-1. */
  proportions: Type.Array(Probability, { minItems: 1, maxItems: 256 }),
});
export type BinnedDistribution = Static<typeof BinnedDistribution>;

/** Names of the per-input scalar statistics the edge computes before inference (cheap, O(pixels)). */
export const InputStatisticName = Type.Union([
  Type.Literal('mean'), // mean pixel intensity, in model-input units (after preprocessing)
  Type.Literal('std'), // pixel standard deviation (contrast)
  Type.Literal('gradient'), // mean absolute horizontal+vertical difference (sharpness / blur / noise)
  Type.Literal('saturation'), // fraction of pixels at the input range's ends (occlusion, clipping)
  // Fraction of unsaturated values whose right and lower neighbours are within 1% of the range
  // (uniform regions: an occluder, a sticker, a covered lens). Absent from older reports.
  Type.Literal('flat'),
  // Per-channel mean for colour inputs (channel 0, 1, 2, 3 in the model's channel order): a colour
  // cast or white-balance change moves one channel against another and can leave the pooled mean flat.
  Type.Literal('mean_c0'),
  Type.Literal('mean_c1'),
  Type.Literal('mean_c2'),
  Type.Literal('mean_c3'),
]);
export type InputStatisticName = Static<typeof InputStatisticName>;

export const InputStatisticReference = Type.Object({
  name: InputStatisticName,
  distribution: BinnedDistribution,
});
export type InputStatisticReference = Static<typeof InputStatisticReference>;

/**
 * The teacher's BatchNorm running statistics of one monitored layer and how the edge obtains
 * comparable statistics. The student package has its own BN folded into convolutions, so the
 * exporter adds a probe: the teacher's layers up to (and including) the convolution that feeds
 * this BN, reduced per sample to per-channel spatial means (and means of squares), exposed as
 * extra named ONNX outputs (`meanOutput`, `meanSquareOutput`, shape [N, C]). In distribution,
 * the window average of `meanOutput` estimates `runningMean`, and the window average of
 * `meanSquareOutput` minus the squared mean estimates `runningVariance` (population variance
 * over samples and positions, which is what BN's running variance tracks).
 */
export const FeatureStatisticReference = Type.Object({
  /** Layer name in the teacher (for lineage and for re-distillation targets). */
  layer: Type.String({ minLength: 1, maxLength: 200 }),
  /** Where the statistics come from: the teacher's BN running statistics, or a field baseline. */
  source: Type.Union([Type.Literal('teacher-batchnorm'), Type.Literal('student-batchnorm'), Type.Literal('field-baseline')]),
  /**
   * ONNX output names, in the package's model or in its probe model (`probeModel`). Absent when
   * the probe is carried inline (`probe`) and computed in JavaScript on the edge.
   */
  meanOutput: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  meanSquareOutput: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  /** Path inside the package of a separate probe model, when the outputs are not in the main model. */
  probeModel: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
  /**
   * Inline probe: the teacher's convolution feeding this BN (HWIO kernel, before BN), small enough
   * to run per inference in JavaScript (a first layer). Used when no ONNX probe output exists.
   */
  probe: Type.Optional(
    Type.Object({
      kind: Type.Literal('conv2d'),
      kernelShape: Type.Tuple([Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 }), Type.Integer({ minimum: 1 })]),
      kernel: Type.Array(Type.Number(), { minItems: 1, maxItems: 65536 }),
      bias: Type.Optional(Type.Array(Type.Number(), { maxItems: 4096 })),
      strides: Type.Integer({ minimum: 1 }),
      padding: Type.Union([Type.Literal('same'), Type.Literal('valid')]),
    }),
  ),
  runningMean: Type.Array(Type.Number(), { minItems: 1, maxItems: 4096 }),
  runningVariance: Type.Array(NonNegative, { minItems: 1, maxItems: 4096 }),
  /**
   * Spatial positions per sample that one per-channel mean averages over (H×W of the layer).
   * Used to turn BN's per-position variance into the expected variance of a window mean.
   */
  positions: Type.Optional(Type.Integer({ minimum: 1 })),
});
export type FeatureStatisticReference = Static<typeof FeatureStatisticReference>;

/**
 * Bounds of the per-layer sketch of the served student (`layerSketches`). A sketch is per channel
 * the mean and variance of one BatchNorm layer's input over samples and positions, pooled over a
 * report period: at most 8 layers × 512 channels × 2 numbers = 8,192 numbers per report (about
 * 3 KB of JSON for LeNet-5-half's 71 channels). A device sends a layer's sketch only when the
 * period pooled at least `MIN_LAYER_SKETCH_SAMPLES` inferences: BatchNorm statistics are an image
 * prior for inversion attacks, and fewer samples would say more about single inputs.
 */
export const MAX_LAYER_SKETCHES = 8;
export const MAX_LAYER_SKETCH_CHANNELS = 512;
export const MIN_LAYER_SKETCH_SAMPLES = 256;

/**
 * Which layers of the served student the device sketches and where to read them: the package's
 * ONNX outputs `meanOutput` / `meanSquareOutput` ([N, C] spatial means of x and x² of the
 * BatchNorm's input; the exporter undoes the folded affine on that branch, in float).
 */
export const LayerSketchSpec = Type.Object({
  /** BatchNorm layer of the student (before folding). */
  layer: Type.String({ minLength: 1, maxLength: 200 }),
  meanOutput: Type.String({ minLength: 1, maxLength: 200 }),
  meanSquareOutput: Type.String({ minLength: 1, maxLength: 200 }),
  channels: Type.Integer({ minimum: 1, maximum: MAX_LAYER_SKETCH_CHANNELS }),
});
export type LayerSketchSpec = Static<typeof LayerSketchSpec>;

/** One layer's sketch in a report: what the cloud re-estimates the student's BatchNorm from. */
export const LayerSketch = Type.Object({
  layer: Type.String({ minLength: 1, maxLength: 200 }),
  mean: Type.Array(Type.Number(), { minItems: 1, maxItems: MAX_LAYER_SKETCH_CHANNELS }),
  variance: Type.Array(NonNegative, { minItems: 1, maxItems: MAX_LAYER_SKETCH_CHANNELS }),
  sampleCount: Type.Integer({ minimum: MIN_LAYER_SKETCH_SAMPLES }),
});
export type LayerSketch = Static<typeof LayerSketch>;

/**
 * Per-detector standardisation band: the mean and standard deviation of the detector's window
 * score over reference windows (clean data / field baseline). The edge standardises
 * z = (score - mean) / std before thresholding and before the streaming change detector, so one
 * threshold works for every detector and survives the fixed synthetic-vs-real offset.
 */
export const ScoreBand = Type.Object({
  detector: Type.String({ minLength: 1, maxLength: 64 }),
  mean: Type.Number(),
  std: Type.Number({ minimum: 0 }),
  /** Number of reference windows the band was fitted on. */
  windows: Count,
});
export type ScoreBand = Static<typeof ScoreBand>;

export const DriftReference = Type.Object({
  version: Type.Literal(DRIFT_REFERENCE_VERSION),
  /** How the output-side statistics were obtained. */
  source: Type.Union([Type.Literal('synthetic'), Type.Literal('field-baseline'), Type.Literal('teacher-batchnorm')]),
  numClasses: Type.Integer({ minimum: 2, maximum: 100000 }),
  /** Expected predicted-class prior (sums to ≈ 1). Uniform when nothing better is known. */
  classPrior: Type.Array(Probability, { minItems: 2 }),
  /** Max-softmax (top-1 probability) distribution. */
  maxSoftmax: Type.Optional(QuantileSketch),
  /** Normalised entropy H(p)/ln(K) in [0,1]. */
  entropy: Type.Optional(QuantileSketch),
  /** Fraction of inferences with top1 − top2 < `threshold`. */
  lowMargin: Type.Optional(Type.Object({ threshold: Probability, rate: Probability })),
  inputStatistics: Type.Optional(Type.Array(InputStatisticReference, { maxItems: 16 })),
  featureStatistics: Type.Optional(Type.Array(FeatureStatisticReference, { maxItems: 8 })),
  scoreBands: Type.Optional(Type.Array(ScoreBand, { maxItems: 32 })),
  /** Layers of the served student the device sketches for statistics-only adaptation. */
  layerSketches: Type.Optional(Type.Array(LayerSketchSpec, { maxItems: MAX_LAYER_SKETCHES })),
  /** How many samples the output-side statistics were computed from. */
  sampleCount: Count,
  createdAt: Type.Optional(Type.String({ maxLength: 64 })),
});
export type DriftReference = Static<typeof DriftReference>;

/** One detector's result for one window. */
export const DetectorResult = Type.Object({
  detector: Type.String({ minLength: 1, maxLength: 64 }),
  /** Raw statistic (χ², JS distance, KS D, rate difference, mean |z|, PSI). */
  statistic: Type.Number(),
  /** p-value where the test has one (χ², KS, proportion z-test). */
  pValue: Type.Optional(Probability),
  /** Standardised score (see ScoreBand). */
  z: Type.Optional(Type.Number()),
  /** The window breached this detector's threshold. */
  breach: Type.Boolean(),
});
export type DetectorResult = Static<typeof DetectorResult>;

/** Per-channel feature statistics measured on the device over the report period. */
export const FeatureStatisticObservation = Type.Object({
  layer: Type.String({ minLength: 1, maxLength: 200 }),
  mean: Type.Array(Type.Number(), { maxItems: 4096 }),
  variance: Type.Array(NonNegative, { maxItems: 4096 }),
  sampleCount: Count,
});
export type FeatureStatisticObservation = Static<typeof FeatureStatisticObservation>;

export const DriftReport = Type.Object({
  version: Type.Literal(DRIFT_REFERENCE_VERSION),
  /** Model the statistics describe: package id / version as in the manifest. */
  modelId: Type.String({ minLength: 1, maxLength: 200 }),
  modelVersion: Type.String({ minLength: 1, maxLength: 64 }),
  /** Report period, ms since epoch. */
  periodStart: Type.Integer({ minimum: 0 }),
  periodEnd: Type.Integer({ minimum: 0 }),
  sampleCount: Count,
  windowSize: Type.Integer({ minimum: 1 }),
  windowsEvaluated: Count,
  /** Which reference was in force. */
  referenceSource: Type.Union([Type.Literal('manifest'), Type.Literal('field-baseline')]),
  /** Predicted-class counts over the period. */
  classCounts: Type.Array(Count, { maxItems: 100000 }),
  /** Max-softmax and normalised entropy histograms on fixed edges [0, 0.1, …, 1]. */
  maxSoftmaxHistogram: Type.Optional(Type.Array(Count, { maxItems: 256 })),
  entropyHistogram: Type.Optional(Type.Array(Count, { maxItems: 256 })),
  lowMarginCount: Type.Optional(Count),
  meanMaxSoftmax: Type.Optional(Probability),
  inputStatistics: Type.Optional(
    Type.Array(Type.Object({ name: InputStatisticName, counts: Type.Array(Count, { maxItems: 256 }), mean: Type.Number() }), { maxItems: 16 }),
  ),
  /** The field's feature statistics: the BN-matching targets for re-distillation. */
  featureStatistics: Type.Optional(Type.Array(FeatureStatisticObservation, { maxItems: 8 })),
  /** Per-layer sketches of the served student over the period (see LayerSketch; bounded, never inputs). */
  layerSketches: Type.Optional(Type.Array(LayerSketch, { maxItems: MAX_LAYER_SKETCHES })),
  /** Results of the most recent window. */
  detectors: Type.Array(DetectorResult, { maxItems: 32 }),
  /** Max over windows in the period of each detector's z (the strongest evidence seen). */
  maxZ: Type.Optional(Type.Record(Type.String(), Type.Number())),
  /** Smallest per-detector p-value in the period, already Bonferroni-corrected over detectors. */
  minPValue: Type.Optional(Probability),
  alarm: Type.Object({
    /** Confirmed drift (k of n windows breached, or change detector fired and next window confirmed). */
    active: Type.Boolean(),
    since: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Detectors that contributed to the confirmation. */
    detectors: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 32 }),
    breachedWindows: Count,
    /** The change detector (Page-Hinkley) fired in this period. */
    changeDetected: Type.Optional(Type.Boolean()),
  }),
  /** Opt-in hard-example upload accounting (samples themselves go through a separate upload path). */
  hardExamples: Type.Optional(Type.Object({ collected: Count, uploaded: Count, bytesUploaded: Count, budgetBytesPerDay: Count })),
});
export type DriftReport = Static<typeof DriftReport>;

export const parseDriftReport = createParser(DriftReport, 'drift report');
