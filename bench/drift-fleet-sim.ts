import { join } from 'node:path';
import { createOrtEngine } from '../edge/inference/ort-engine';
import { createModelRuntime, type ModelRuntime } from '../edge/inference/model-runtime';
import { createModelChangeNotifier } from '../edge/agent/model-change';
import { driftEnvelope } from '../edge/agent/report-envelopes';
import { attachDriftMonitor } from '../edge/drift/attach-drift-monitor';
import type { DriftMonitor } from '../edge/drift/drift-monitor';
import { createRandom } from '../shared/random/seeded-random';
import { createLogger } from '../shared/log/logger';
import type { DriftReportEnvelope, TensorInput } from '../shared/protocol';
import type { ModelManifest } from '../shared/package';

/**
 * In-process devices for the retrain loop: each is the agent's real inference runtime
 * (onnxruntime, input validation and normalisation, observers) with the agent's drift monitor
 * attached by the same `attachDriftMonitor` that `createAgent` uses, and its reports wrapped by
 * the agent's own `driftEnvelope`. What is simulated is only the transport: the envelope is
 * handed to `onReport` instead of going through the outbox and MQTT. Time is the caller's clock, so a stream of
 * inferences can stand for minutes of device time.
 */
export interface SimDevice {
  id: string;
  runtime: ModelRuntime;
  monitor: DriftMonitor;
  /** Tells the monitor the serving model changed, as the agent does after an activation. */
  modelChanged(): void;
}

export interface SimFleet {
  devices: SimDevice[];
  /** Runs `count` images (model units, NHWC) on device `d` as one batch; they are converted to raw pixels first, as a camera would send them. */
  infer(d: number, images: Float32Array, count: number): Promise<void>;
  /** Installs a package on every device and commits it (the monitor restarts on the new model). */
  install(packageDir: string, manifest: ModelManifest): Promise<void>;
  active(): ModelManifest | null;
  release(): Promise<void>;
}

export async function createSimFleet(o: {
  devices: number;
  clock: () => number;
  seed: number;
  baselineSamples: number;
  reportEveryMs: number;
  onReport: (e: DriftReportEnvelope) => void;
}): Promise<SimFleet> {
  const engine = createOrtEngine();
  const devices: SimDevice[] = [];
  const seq = new Map<string, number>();
  let manifest: ModelManifest | null = null;
  for (let i = 0; i < o.devices; i++) {
    const id = `bench-dev-${i}`;
    const runtime = createModelRuntime({ engine, sessionOptions: { executionProviders: ['cpu'], intraOpThreads: 1 } });
    const modelChanges = createModelChangeNotifier(() => runtime.active(), createLogger('bench-device'));
    const identity = { deviceId: id, bootId: `${id}-boot` };
    const { monitor } = attachDriftMonitor(
      {
        inferenceObservers: runtime.observers,
        onModelChange: (l) => modelChanges.listen(l),
        // The agent's envelope, with the outbox's seq and key stood in by a per-device counter.
        reportDrift: (stats, model, window) => {
          const n = (seq.get(id) ?? 0) + 1;
          seq.set(id, n);
          o.onReport(driftEnvelope(identity, { seq: n, key: `${id}-${n}` }, o.clock(), { stats, model, window }));
        },
        serving: () => runtime.active(),
      },
      // No report timer: the clock is simulated, so periods are checked on inferences only.
      { clock: o.clock, baselineSamples: o.baselineSamples, reportEveryMs: o.reportEveryMs, random: createRandom(o.seed + 31 * i), tickEveryMs: 0 },
    );
    devices.push({ id, runtime, monitor, modelChanged: () => modelChanges.check() });
  }

  async function install(packageDir: string, m: ModelManifest): Promise<void> {
    for (const d of devices) {
      const loaded = await d.runtime.load(join(packageDir, m.model.file), m);
      const previous = d.runtime.setActive(loaded);
      d.modelChanged();
      await d.runtime.release(previous);
    }
    manifest = m;
  }

  return {
    devices,
    install,
    active: () => manifest,
    async infer(d, images, count) {
      const m = manifest!;
      const { scale, offset } = m.input.normalisation;
      // The runtime normalises raw inputs with the manifest's affine map; invert it here.
      const raw = new Float32Array(images.length);
      for (let i = 0; i < images.length; i++) raw[i] = (images[i]! - offset[0]!) / scale[0]!;
      const dims = m.input.shape.slice(1).map(Number);
      // TensorInput's `data` is typed as a JSON number array; a Float32Array is read the same way
      // (toModelInput copies it with Float32Array.from) and avoids boxing 784 numbers per image.
      const input: TensorInput = { dtype: 'float32', shape: [count, ...dims], data: raw as unknown as number[] };
      await devices[d]!.runtime.infer(input, { topK: 1 });
    },
    async release() {
      for (const d of devices) await d.runtime.release(d.runtime.setActive(null));
    },
  };
}
