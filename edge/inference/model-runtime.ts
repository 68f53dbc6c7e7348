import { EdgekdError, toEdgekdError } from '../../shared/errors';
import type { ModelManifest } from '../../shared/package';
import { MAX_SHADOW_CLASSES, type InferenceResult, type ModelRef, type ShadowMetrics, type TensorInput } from '../../shared/protocol';
import type { EngineSession, InferenceEngine, SessionOptions, Tensor } from './engine';
import { percentile } from '../../shared/math/percentile';
import { softmaxRows } from '../../shared/math/softmax-rows';
import { rowArgmax, topK } from './top-k';
import { toModelInput, zeroInput } from './validate-input';

/** A model with a live session. */
export interface LoadedModel {
  readonly ref: ModelRef;
  readonly manifest: ModelManifest;
  readonly session: EngineSession;
  readonly sessionCreateMs: number;
}

/**
 * What an inference observer sees (the drift monitor's hook): the model input after validation
 * and normalisation, every model output (feature outputs included), the class probabilities of
 * each batch item and the latency. Observers run synchronously after the answer is computed; one
 * that throws is logged and skipped, never failing the inference.
 */
export interface InferenceEvent {
  readonly ts: number;
  readonly model: ModelRef;
  readonly input: Tensor;
  readonly outputs: Readonly<Record<string, Tensor>>;
  /** batch × classes, row-major. */
  readonly probabilities: Float32Array;
  readonly batch: number;
  readonly classes: number;
  readonly latencyMs: number;
}
export type InferenceObserver = (event: InferenceEvent) => void;

export interface InferOptions {
  readonly topK?: number;
  readonly includeProbabilities?: boolean;
}

/** Counters a bake or a heartbeat reads and resets. */
export interface ServingWindow {
  count: number;
  errors: number;
  latenciesMs: number[];
}

const MAX_WINDOW_LATENCIES = 4096;

export interface ModelRuntime {
  load(modelPath: string, manifest: ModelManifest): Promise<LoadedModel>;
  active(): LoadedModel | null;
  /** Swaps the serving model; returns the one it replaced (its session is NOT released). */
  setActive(model: LoadedModel | null): LoadedModel | null;
  warmUp(model: LoadedModel, runs: number): Promise<number[]>;
  infer(input: TensorInput, options?: InferOptions): Promise<InferenceResult>;
  /** Runs `candidate` beside the active model on the next `n` live inputs. */
  shadow(candidate: LoadedModel, n: number, maxWaitMs: number, signal?: AbortSignal): Promise<ShadowMetrics>;
  readonly observers: InferenceObserver[];
  /** Takes the counters since the previous call (heartbeat). */
  drainWindow(): ServingWindow;
  /** Counters since `markBakeStart` (bake gates). */
  bakeWindow(): ServingWindow;
  markBakeStart(): void;
  totals(): { count: number; errors: number };
  release(model: LoadedModel | null): Promise<void>;
}

interface ShadowState {
  candidate: LoadedModel;
  target: number;
  seen: number;
  agree: number;
  confidenceDelta: number;
  /** Top-1 histograms of the active model and of the candidate (null: head too wide or widths differ). */
  classCounts: { active: number[]; candidate: number[] } | null;
  candidateLatencies: number[];
  activeLatencies: number[];
  done: () => void;
}

function probabilityOutput(manifest: ModelManifest): { name: string; logits: boolean } {
  const o = manifest.outputs.find((x) => x.kind === 'probabilities') ?? manifest.outputs.find((x) => x.kind === 'logits') ?? manifest.outputs[0]!;
  return { name: o.name, logits: o.kind === 'logits' };
}

function probabilitiesOf(model: LoadedModel, outputs: Record<string, Tensor>): { probs: Float32Array; classes: number; batch: number } {
  const { name, logits } = probabilityOutput(model.manifest);
  const t = outputs[name] ?? Object.values(outputs)[0];
  if (!t) throw new EdgekdError('EDGEKD_INFERENCE_FAILED', `the model produced no output '${name}'`);
  const batch = t.dims[0] ?? 1;
  const classes = t.data.length / batch;
  const raw = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
  return { probs: logits ? softmaxRows(raw, classes) : raw, classes, batch };
}

/** Counts one shadow answer pair; a head wider than the report allows, or two heads of different widths, stop the counting. */
function countClasses(state: ShadowState, activeClasses: number, candidateClasses: number, a: number, b: number): void {
  if (activeClasses !== candidateClasses || activeClasses > MAX_SHADOW_CLASSES) {
    state.classCounts = null;
    return;
  }
  const cc = state.classCounts!;
  if (cc.active.length === 0) {
    cc.active = new Array<number>(activeClasses).fill(0);
    cc.candidate = new Array<number>(activeClasses).fill(0);
  }
  cc.active[a]!++;
  cc.candidate[b]!++;
}

export function createModelRuntime(deps: {
  engine: InferenceEngine;
  sessionOptions: SessionOptions;
  now?: () => number;
  onObserverError?: (e: unknown) => void;
  /** A session loaded on a provider later in the list than the first (e.g. cpu after tensorrt). */
  onProviderFallback?: (used: string, failures: EngineSession['fallbacks'], modelPath: string) => void;
}): ModelRuntime {
  const now = deps.now ?? (() => performance.now());
  const wallNow = (): number => Date.now();
  let current: LoadedModel | null = null;
  let shadowState: ShadowState | null = null;
  let shadowChain: Promise<void> = Promise.resolve();
  const observers: InferenceObserver[] = [];
  let window: ServingWindow = { count: 0, errors: 0, latenciesMs: [] };
  let bake: ServingWindow = { count: 0, errors: 0, latenciesMs: [] };
  const totals = { count: 0, errors: 0 };

  const record = (latency: number | null): void => {
    for (const w of [window, bake]) {
      if (latency === null) w.errors++;
      else {
        w.count++;
        if (w.latenciesMs.length < MAX_WINDOW_LATENCIES) w.latenciesMs.push(latency);
      }
    }
    if (latency === null) totals.errors++;
    else totals.count++;
  };

  const runShadow = (state: ShadowState, feed: Record<string, Tensor>, activeProbs: Float32Array, classes: number, activeLatency: number): void => {
    shadowChain = shadowChain.then(async () => {
      if (shadowState !== state || state.seen >= state.target) return;
      const t0 = now();
      try {
        const out = await state.candidate.session.run(feed);
        const cand = probabilitiesOf(state.candidate, out);
        const a = rowArgmax(activeProbs, classes);
        const b = rowArgmax(cand.probs, cand.classes);
        for (let r = 0; r < a.index.length; r++) {
          state.seen++;
          if (a.index[r] === b.index[r]) state.agree++;
          if (state.classCounts) countClasses(state, classes, cand.classes, a.index[r] ?? 0, b.index[r] ?? 0);
          state.confidenceDelta += (b.max[r] ?? 0) - (a.max[r] ?? 0);
        }
        state.candidateLatencies.push(now() - t0);
        state.activeLatencies.push(activeLatency);
      } catch {
        state.seen++; // a candidate that cannot run on live input disagrees
      }
      if (state.seen >= state.target) state.done();
    });
  };

  const runtime: ModelRuntime = {
    observers,
    async load(modelPath, manifest) {
      const t0 = now();
      const session = await deps.engine.createSession(modelPath, deps.sessionOptions);
      if (session.fallbacks.length > 0) deps.onProviderFallback?.(session.provider, session.fallbacks, modelPath);
      return { ref: { name: manifest.name, version: manifest.version, sha256: manifest.model.sha256 }, manifest, session, sessionCreateMs: now() - t0 };
    },
    active: () => current,
    setActive(model) {
      const prev = current;
      current = model;
      return prev;
    },
    async warmUp(model, runs) {
      const input = zeroInput(model.manifest.input);
      const lat: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t0 = now();
        const out = await model.session.run({ [model.manifest.input.name]: input });
        probabilitiesOf(model, out);
        lat.push(now() - t0);
      }
      return lat;
    },
    async infer(request, options = {}) {
      const model = current;
      if (!model) throw new EdgekdError('EDGEKD_NO_ACTIVE_MODEL', 'no model is installed yet; deploy one first');
      const input = toModelInput(request, model.manifest.input);
      const feed = { [model.manifest.input.name]: input };
      const t0 = now();
      let outputs: Record<string, Tensor>;
      try {
        outputs = await model.session.run(feed);
      } catch (e) {
        record(null);
        throw toEdgekdError(e, 'EDGEKD_INFERENCE_FAILED');
      }
      const latencyMs = now() - t0;
      record(latencyMs);
      const { probs, classes, batch } = probabilitiesOf(model, outputs);
      const result: InferenceResult = {
        topK: topK(probs, classes, options.topK ?? 5, model.manifest.labels),
        latencyMs,
        model: model.ref,
        executionProvider: model.session.provider,
      };
      if (options.includeProbabilities) result.probabilities = Array.from(probs.subarray(0, classes));
      if (shadowState) runShadow(shadowState, feed, probs, classes, latencyMs);
      const event: InferenceEvent = { ts: wallNow(), model: model.ref, input, outputs, probabilities: probs, batch, classes, latencyMs };
      for (const o of observers) {
        try {
          o(event);
        } catch (e) {
          deps.onObserverError?.(e);
        }
      }
      return result;
    },
    async shadow(candidate, n, maxWaitMs, signal) {
      let finish!: () => void;
      const finished = new Promise<void>((resolve) => (finish = resolve));
      const state: ShadowState = { candidate, target: n, seen: 0, agree: 0, confidenceDelta: 0, classCounts: { active: [], candidate: [] }, candidateLatencies: [], activeLatencies: [], done: () => finish() };
      shadowState = state;
      const timer = setTimeout(() => finish(), maxWaitMs);
      const onAbort = (): void => finish();
      signal?.addEventListener('abort', onAbort);
      try {
        await finished;
        await shadowChain;
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (shadowState === state) shadowState = null;
      }
      const metrics: ShadowMetrics = {
        inferences: state.seen,
        agreement: state.seen > 0 ? state.agree / state.seen : null,
        confidenceShift: state.seen > 0 ? Math.max(-1, Math.min(1, state.confidenceDelta / state.seen)) : null,
      };
      const cp = percentile(state.candidateLatencies, 95);
      const ap = percentile(state.activeLatencies, 95);
      if (cp !== null) metrics.candidateP95LatencyMs = cp;
      if (ap !== null) metrics.activeP95LatencyMs = ap;
      const cc = state.classCounts;
      if (cc && cc.active.length >= 2 && cc.active.length <= MAX_SHADOW_CLASSES && cc.active.length === cc.candidate.length) metrics.classCounts = cc;
      return metrics;
    },
    drainWindow() {
      const w = window;
      window = { count: 0, errors: 0, latenciesMs: [] };
      return w;
    },
    bakeWindow: () => bake,
    markBakeStart() {
      bake = { count: 0, errors: 0, latenciesMs: [] };
    },
    totals: () => ({ ...totals }),
    async release(model) {
      if (model && model !== current) await model.session.release().catch(() => undefined);
    },
  };
  return runtime;
}
