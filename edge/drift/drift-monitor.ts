import type { ModelManifest } from '../../shared/package';
import type { ModelRef } from '../../shared/protocol';
import type { DriftReference, DriftReport } from '../../shared/drift/reference';
import { DriftDetector, DEFAULT_DRIFT_CONFIG, type DriftDetectorConfig, type DriftEvaluation } from '../../shared/drift/drift-detector';
import { ReportAccumulator } from '../../shared/drift/report-accumulator';
import { LayerSketchAccumulator } from '../../shared/drift/layer-sketch';
import { summarizeInference, type FeatureSample, type InferenceSummary } from '../../shared/drift/summary';
import { buildDriftReference } from '../../shared/drift/build-reference';
import { fitScoreBands } from '../../shared/drift/fit-bands';
import { runConvProbe, type ConvProbe } from '../../shared/drift/conv-probe';
import type { InputGeometry } from '../../shared/drift/input-statistics';
import { createRandom, type Random } from '../../shared/random/seeded-random';
import type { InferenceEvent } from '../inference/model-runtime';
import { createLogger } from '../../shared/log/logger';
import { HardExampleSampler, type HardExamplePolicy } from './hard-examples';

type Logger = ReturnType<typeof createLogger>;

export interface DriftMonitorOptions {
  clock: () => number;
  /** Called with each period's report; the agent wraps it in the protocol envelope and appends it to its outbox. */
  publish: (report: DriftReport, model: ModelRef) => void;
  /** Detector configuration for this rollout (defaults: DEFAULT_DRIFT_CONFIG). */
  config?: Partial<DriftDetectorConfig>;
  reportEveryMs?: number;
  /**
   * Field baseline: take the first N inferences after a model is committed as the reference
   * (half builds the reference, half fits the score bands). 0 keeps the manifest's reference.
   * Default 4,000 (what `npm run bench:drift` calibrated with) unless the manifest's reference
   * already carries score bands.
   */
  baselineSamples?: number;
  /** Opt-in upload of a capped sample of hard examples (off by default). */
  hardExamples?: HardExamplePolicy;
  /** Receives hard examples that fit the budget (the agent uploads them through its sample path). */
  onHardExample?: (input: Float32Array, model: ModelRef) => void;
  random?: Random;
  logger?: Logger;
}

export interface DriftMonitorState {
  model: ModelRef | null;
  referenceSource: DriftReport['referenceSource'] | null;
  baselineProgress: number;
  samplesSeen: number;
  alarmActive: boolean;
  lastEvaluation: DriftEvaluation | null;
}

export interface DriftMonitor {
  /** The inference observer: push it onto `ModelRuntime.observers`. Never throws. */
  observe(event: InferenceEvent): void;
  /** Call when a model is committed (after the swap). Resets the detector and the period. */
  onModelActivated(manifest: ModelManifest, ref: ModelRef): void;
  /** Publishes the current period if it is due (the agent calls this from its timer). */
  tick(): void;
  /** Publishes the current period now (e.g. on shutdown). */
  flush(): void;
  state(): DriftMonitorState;
}

const DEFAULT_REPORT_EVERY_MS = 5 * 60_000;

/**
 * The edge drift monitor. Per inference it keeps a handful of scalars (the summary), feeds the
 * streaming detector and the period accumulator, and once per period hands an aggregate-only
 * `DriftReport` to `publish`. Inputs and probability vectors are never stored or reported; only
 * an opt-in hard-example policy may pass an input to `onHardExample`, within its byte budget.
 */
export function createDriftMonitor(o: DriftMonitorOptions): DriftMonitor {
  const log = o.logger ?? createLogger('drift');
  const config: DriftDetectorConfig = { ...DEFAULT_DRIFT_CONFIG, ...o.config };
  const reportEvery = o.reportEveryMs ?? DEFAULT_REPORT_EVERY_MS;
  const baselineOption = o.baselineSamples;
  let baselineTarget = 0;
  const random = o.random ?? createRandom(o.clock() >>> 0);
  const hard = new HardExampleSampler(o.hardExamples ?? { enabled: false, maxMargin: 0.1, budgetBytesPerDay: 0 }, o.clock);

  let model: ModelRef | null = null;
  let manifest: ModelManifest | null = null;
  let detector: DriftDetector | null = null;
  let acc: ReportAccumulator | null = null;
  let geometry: InputGeometry | undefined;
  let probes: Array<{ probe?: ConvProbe; meanOutput?: string; meanSquareOutput?: string }> = [];
  let baseline: InferenceSummary[] = [];
  let referenceSource: DriftReport['referenceSource'] = 'manifest';
  let lastEvaluation: DriftEvaluation | null = null;
  let alarmSince: number | undefined;
  let nextReportAt = 0;
  let sketches: LayerSketchAccumulator | null = null;

  function onModelActivated(m: ModelManifest, ref: ModelRef): void {
    if (acc && model && acc.count > 0) publishNow();
    manifest = m;
    model = ref;
    const k = m.labels.length || m.driftReference?.numClasses || 2;
    const reference: DriftReference = m.driftReference ?? { version: 1, source: 'synthetic', numClasses: k, classPrior: new Array(k).fill(1 / k), sampleCount: 0 };
    geometry = geometryOf(m);
    baselineTarget = baselineOption ?? (reference.scoreBands && reference.scoreBands.length > 0 ? 0 : 4000);
    probes = (reference.featureStatistics ?? []).map((f) => ({
      ...(f.probe ? { probe: f.probe as ConvProbe } : {}),
      ...(f.meanOutput ? { meanOutput: f.meanOutput } : {}),
      ...(f.meanSquareOutput ? { meanSquareOutput: f.meanSquareOutput } : {}),
    }));
    detector = new DriftDetector(reference, config);
    acc = new ReportAccumulator(reference, o.clock());
    sketches = reference.layerSketches?.length ? new LayerSketchAccumulator(reference.layerSketches) : null;
    baseline = [];
    referenceSource = 'manifest';
    lastEvaluation = null;
    alarmSince = undefined;
    nextReportAt = o.clock() + reportEvery;
  }

  function summaries(e: InferenceEvent): InferenceSummary[] {
    const out: InferenceSummary[] = [];
    const input = e.input.dtype === 'float32' ? (e.input.data as Float32Array) : Float32Array.from(e.input.data);
    const per = e.batch > 0 ? input.length / e.batch : 0;
    for (let b = 0; b < e.batch; b++) {
      const x = input.subarray(b * per, (b + 1) * per);
      const features: FeatureSample[] = [];
      for (const p of probes) {
        if (p.meanOutput && e.outputs[p.meanOutput]) {
          const mean = rowOf(e.outputs[p.meanOutput]!.data, b, e.batch);
          const sq = p.meanSquareOutput && e.outputs[p.meanSquareOutput] ? rowOf(e.outputs[p.meanSquareOutput]!.data, b, e.batch) : undefined;
          features.push(sq ? { mean, meanSquare: sq } : { mean });
        } else if (p.probe && geometry) {
          features.push(runConvProbe(x, geometry.height, geometry.width, p.probe));
        }
      }
      const probs = e.probabilities.subarray(b * e.classes, (b + 1) * e.classes);
      const s = summarizeInference(
        { probabilities: probs, ...(geometry && x.length === geometry.height * geometry.width * geometry.channels ? { input: x } : {}), ...(features.length === probes.length && features.length > 0 ? { features } : {}) },
        geometry,
      );
      out.push(s);
      sketches?.add((name) => (e.outputs[name] ? rowOf(e.outputs[name]!.data, b, e.batch) : undefined));
      if (hard.offer(s, x.byteLength)) o.onHardExample?.(Float32Array.from(x), model!);
    }
    return out;
  }

  function observe(e: InferenceEvent): void {
    try {
      if (!detector || !acc || !model) return;
      if (e.model.sha256 !== model.sha256) return; // an event from a model not (yet) committed, e.g. shadow
      for (const s of summaries(e)) {
        acc.add(s);
        if (referenceSource === 'manifest' && baselineTarget > 0) {
          // While the field baseline is collected nothing is scored: the manifest's reference
          // describes synthetic samples, and scoring real clean traffic against it raised alarms on
          // every device of a fresh deployment (bench:drift, before this rule). The first window
          // is scored against the adopted field baseline.
          baseline.push(s);
          if (baseline.length >= baselineTarget) adoptBaseline();
          continue;
        }
        const ev = detector.observe(s);
        if (ev) {
          lastEvaluation = ev;
          acc.addEvaluation(ev);
          if (ev.confirmed) {
            alarmSince = o.clock();
            log.warn({ model: model.name, version: model.version, detectors: ev.breaching, reason: ev.reason }, 'drift alarm confirmed');
          } else if (!ev.active) alarmSince = undefined;
        }
      }
      tick();
    } catch (err) {
      log.error({ err }, 'drift monitor failed on an inference; skipped');
    }
  }

  function adoptBaseline(): void {
    const half = Math.floor(baseline.length / 2);
    const manifestRef = detector!.currentReference;
    const ref = buildDriftReference(baseline.slice(0, half), {
      numClasses: manifestRef.numClasses,
      source: 'field-baseline',
      ...(manifestRef.featureStatistics ? { featureStatistics: manifestRef.featureStatistics } : {}),
    });
    ref.scoreBands = fitScoreBands(ref, baseline.slice(half), { windowSize: config.windowSize, windows: 200, detectors: config.detectors, random });
    detector!.setReference(ref);
    acc!.reset(o.clock(), ref);
    referenceSource = 'field-baseline';
    baseline = [];
    log.info({ samples: half * 2 }, 'drift reference: field baseline adopted');
  }

  function tick(): void {
    if (acc && o.clock() >= nextReportAt) publishNow();
  }

  function publishNow(): void {
    if (!acc || !model || !detector) return;
    const now = o.clock();
    const report = acc.build({
      now,
      modelId: model.name,
      modelVersion: String(model.version),
      windowSize: config.windowSize,
      referenceSource,
      alarm: { active: detector.alarmActive, ...(alarmSince !== undefined ? { since: alarmSince } : {}), detectors: lastEvaluation?.breaching ?? [] },
    });
    if (hard.enabled) report.hardExamples = hard.accounting();
    const layerSketches = sketches?.build();
    if (layerSketches) report.layerSketches = layerSketches;
    sketches?.reset();
    acc.reset(now);
    nextReportAt = now + reportEvery;
    try {
      o.publish(report, model);
    } catch (err) {
      log.error({ err }, 'drift report could not be queued');
    }
  }

  return {
    observe,
    onModelActivated,
    tick,
    flush: publishNow,
    state: () => ({
      model,
      referenceSource: manifest ? referenceSource : null,
      baselineProgress: baselineTarget > 0 ? (referenceSource === 'field-baseline' ? 1 : baseline.length / baselineTarget) : 1,
      samplesSeen: detector?.samplesSeen ?? 0,
      alarmActive: detector?.alarmActive ?? false,
      lastEvaluation,
    }),
  };
}

/** Row b of a [batch, C] tensor. */
function rowOf(data: ArrayLike<number>, b: number, batch: number): number[] {
  const c = data.length / batch;
  return Array.from({ length: c }, (_, i) => data[b * c + i]!);
}

/** Image geometry and value range of the model input (NHWC or NCHW image inputs only). */
export function geometryOf(m: ModelManifest): InputGeometry | undefined {
  const s = m.input.shape;
  if (s.length !== 4 || m.input.layout === 'NC') return undefined;
  const dims = s.slice(1).map(Number);
  if (dims.some((d) => !Number.isFinite(d))) return undefined;
  const [h, w, c] = m.input.layout === 'NHWC' ? dims : [dims[1]!, dims[2]!, dims[0]!];
  if (m.input.layout === 'NCHW' && c !== 1) return undefined; // input statistics assume interleaved channels
  // The range spanning every channel's [low, high] (per-channel normalisation gives each its own).
  const n = m.input.normalisation;
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < c!; k++) {
    const scale = n.scale[k] ?? n.scale[0]!;
    const offset = n.offset[k] ?? n.offset[0]!;
    for (const raw of n.rawRange) {
      lo = Math.min(lo, raw * scale + offset);
      hi = Math.max(hi, raw * scale + offset);
    }
  }
  return { height: h!, width: w!, channels: c!, range: [lo, hi] };
}
