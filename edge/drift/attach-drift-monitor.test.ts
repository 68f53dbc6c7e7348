import { describe, expect, it } from 'vitest';
import { createRandom } from '../../shared/random/seeded-random';
import type { ModelManifest } from '../../shared/package';
import type { DriftReportEnvelope, ModelRef } from '../../shared/protocol';
import type { ModelChangeListener } from '../agent/model-change';
import type { InferenceEvent } from '../inference/model-runtime';
import { attachDriftMonitor, type DriftHooks } from './attach-drift-monitor';

const ref = (v: number): ModelRef => ({ name: 'fm-student', version: v, sha256: String(v).repeat(64) });
const manifest = {
  labels: ['a', 'b'],
  input: { name: 'input', shape: ['N', 1, 2, 1], layout: 'NHWC', dtype: 'float32', normalisation: { rawRange: [0, 255], scale: [2 / 255], offset: [-1] } },
} as unknown as ModelManifest;

function event(model: ModelRef): InferenceEvent {
  return { ts: 0, model, input: { dtype: 'float32', dims: [1, 1, 2, 1], data: Float32Array.from([0, 1]) }, outputs: {}, probabilities: Float32Array.from([0.9, 0.1]), batch: 1, classes: 2, latencyMs: 1 };
}

/** Hooks as an agent offers them, recording what the monitor hands back. */
function hooks(serving: { manifest: ModelManifest; ref: ModelRef } | null) {
  const listeners: ModelChangeListener[] = [];
  const reports: Array<{ stats: Record<string, unknown>; model: ModelRef; window: DriftReportEnvelope['window'] }> = [];
  const h: DriftHooks & { reports: typeof reports; change(m: ModelManifest, r: ModelRef): void } = {
    inferenceObservers: [],
    onModelChange: (l) => {
      listeners.push(l);
      return () => listeners.splice(listeners.indexOf(l), 1);
    },
    reportDrift: (stats, model, window) => void reports.push({ stats, model, window }),
    serving: () => serving,
    reports,
    change: (m, r) => listeners.forEach((l) => l(m, r)),
  };
  return h;
}

describe('attaching a drift monitor', () => {
  it('starts on the model already serving and reports its period through reportDrift with the window', () => {
    let now = 1_000;
    const h = hooks({ manifest, ref: ref(1) });
    const { detach } = attachDriftMonitor(h, { clock: () => now, reportEveryMs: 60_000, baselineSamples: 0, random: createRandom(1), tickEveryMs: 0 });
    for (let i = 0; i < 3; i++) h.inferenceObservers.forEach((o) => o(event(ref(1))));
    now += 60_000;
    h.inferenceObservers.forEach((o) => o(event(ref(1))));
    expect(h.reports).toHaveLength(1);
    expect(h.reports[0]!.model).toEqual(ref(1));
    expect(h.reports[0]!.window).toEqual({ start: new Date(1_000).toISOString(), end: new Date(61_000).toISOString(), inferences: 4 });
    detach();
  });

  it('restarts on a model change, flushing the old model’s partial period first', () => {
    const now = 1_000;
    const h = hooks({ manifest, ref: ref(1) });
    const { detach } = attachDriftMonitor(h, { clock: () => now, reportEveryMs: 60_000, baselineSamples: 0, random: createRandom(1), tickEveryMs: 0 });
    h.inferenceObservers.forEach((o) => o(event(ref(1))));
    h.change(manifest, ref(2));
    expect(h.reports.map((r) => r.model.version)).toEqual([1]);
    h.inferenceObservers.forEach((o) => o(event(ref(2))));
    detach();
    expect(h.reports.map((r) => r.model.version)).toEqual([1, 2]);
  });

  it('on detach queues the last period and removes its observer and listener', () => {
    const h = hooks(null);
    const { detach, monitor } = attachDriftMonitor(h, { clock: () => 0, tickEveryMs: 0 });
    expect(monitor.state().model).toBeNull();
    expect(h.inferenceObservers).toHaveLength(1);
    detach();
    expect(h.inferenceObservers).toHaveLength(0);
    h.change(manifest, ref(1));
    expect(monitor.state().model).toBeNull();
  });
});
