import { describe, expect, it } from 'vitest';
import { createDriftMonitor } from './drift-monitor';
import { createRandom, type Random } from '../../shared/random/seeded-random';
import { parseDriftReport, type DriftReport } from '../../shared/drift/reference';
import type { ModelManifest } from '../../shared/package';
import type { InferenceEvent } from '../inference/model-runtime';

const ref = { name: 'fm-student', version: 3, sha256: 'a'.repeat(64) };
const manifest = {
  labels: Array.from({ length: 10 }, (_, i) => `c${i}`),
  input: { name: 'input', shape: ['N', 4, 4, 1], layout: 'NHWC', dtype: 'float32', normalisation: { rawRange: [0, 255], scale: [2 / 255], offset: [-1] } },
} as unknown as ModelManifest;

/** One inference event: a 4×4 image and a softmax that loses confidence when `shift` > 0. */
function event(r: Random, shift: number, ts: number): InferenceEvent {
  const logits = Array.from({ length: 10 }, () => r.normal());
  logits[r.int(10)]! += 4 - 2.5 * shift;
  const m = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - m));
  const z = e.reduce((a, b) => a + b, 0);
  const input = Float32Array.from({ length: 16 }, () => Math.min(1, Math.max(-1, r.normal() * 0.5 + shift)));
  return {
    ts,
    model: ref,
    input: { dtype: 'float32', dims: [1, 4, 4, 1], data: input },
    outputs: {},
    probabilities: Float32Array.from(e.map((v) => v / z)),
    batch: 1,
    classes: 10,
    latencyMs: 1,
  };
}

describe('edge drift monitor', () => {
  it('adopts a field baseline, publishes aggregate-only reports on schedule and raises an alarm after a shift', () => {
    let now = 1_000_000;
    const reports: DriftReport[] = [];
    const m = createDriftMonitor({ clock: () => now, publish: (r) => reports.push(r), reportEveryMs: 60_000, baselineSamples: 4000, random: createRandom(1) });
    m.onModelActivated(manifest, ref);
    const r = createRandom(2);
    for (let i = 0; i < 6000; i++) {
      now += 10;
      m.observe(event(r, 0, now));
    }
    expect(m.state().referenceSource).toBe('field-baseline');
    expect(m.state().alarmActive).toBe(false);
    expect(reports.length).toBe(1); // 60 s elapsed
    const first = parseDriftReport.parse(reports[0]);
    expect(first.sampleCount).toBeGreaterThan(0);
    expect(first.classCounts.reduce((a, b) => a + b, 0)).toBe(first.sampleCount);
    // Aggregate only: no field holds a per-inference array as long as the period.
    expect(JSON.stringify(first).length).toBeLessThan(8000);
    for (let i = 0; i < 2000; i++) {
      now += 10;
      m.observe(event(r, 0.8, now));
    }
    expect(m.state().alarmActive).toBe(true);
    m.flush();
    const last = parseDriftReport.parse(reports[reports.length - 1]);
    expect(last.alarm.active).toBe(true);
    expect(last.alarm.detectors.length).toBeGreaterThan(0);
    expect(last.referenceSource).toBe('field-baseline');
    expect(last.hardExamples).toBeUndefined(); // off by default
  });

  it('passes hard examples only when the policy is on, within its byte budget', () => {
    let now = 0;
    const uploads: Float32Array[] = [];
    const m = createDriftMonitor({
      clock: () => now,
      publish: () => {},
      hardExamples: { enabled: true, maxMargin: 0.5, budgetBytesPerDay: 64 * 5 },
      onHardExample: (x) => uploads.push(x),
      random: createRandom(3),
    });
    m.onModelActivated(manifest, ref);
    const r = createRandom(4);
    for (let i = 0; i < 500; i++) m.observe(event(r, 1.2, (now += 1)));
    expect(uploads.length).toBe(5); // 16 floats = 64 bytes each
  });

  it('ignores events of a model that is not the committed one and never throws', () => {
    const m = createDriftMonitor({ clock: () => 0, publish: () => {} });
    m.onModelActivated(manifest, ref);
    const e = event(createRandom(5), 0, 0);
    m.observe({ ...e, model: { ...ref, sha256: 'b'.repeat(64) } });
    expect(m.state().samplesSeen).toBe(0);
    m.observe({ ...e, probabilities: new Float32Array(0), classes: 10 } as InferenceEvent);
  });
});
