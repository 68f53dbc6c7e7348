import { describe, expect, it } from 'vitest';
import { createDriftMonitor } from './drift-monitor';
import { createRandom } from '../../shared/random/seeded-random';
import { parseDriftReport, type DriftReport } from '../../shared/drift/reference';
import type { ModelManifest } from '../../shared/package';
import type { InferenceEvent } from '../inference/model-runtime';

const ref = { name: 'fm-student', version: 3, sha256: 'b'.repeat(64) };
const manifest = (sketched: boolean) =>
  ({
    labels: ['a', 'b'],
    input: { name: 'input', shape: ['N', 2, 2, 1], layout: 'NHWC', dtype: 'float32', normalisation: { rawRange: [0, 255], scale: [2 / 255], offset: [-1] } },
    driftReference: {
      version: 1,
      source: 'synthetic',
      numClasses: 2,
      classPrior: [0.5, 0.5],
      sampleCount: 0,
      ...(sketched ? { layerSketches: [{ layer: 'conv1_bn', meanOutput: 's_m', meanSquareOutput: 's_q', channels: 2 }] } : {}),
    },
  }) as unknown as ModelManifest;

/** A batch of `n` inferences whose sketch outputs have per-channel means 1 and −2 and a known spread. */
function batch(n: number, ts: number, r: ReturnType<typeof createRandom>): InferenceEvent {
  const m = new Float32Array(n * 2);
  const q = new Float32Array(n * 2);
  for (let b = 0; b < n; b++) {
    const a = 1 + (r.next() - 0.5);
    const c = -2 + (r.next() - 0.5);
    m.set([a, c], b * 2);
    q.set([a * a + 0.25, c * c + 1], b * 2); // within-sample spatial variances 0.25 and 1
  }
  return {
    ts,
    model: ref,
    input: { dtype: 'float32', dims: [n, 2, 2, 1], data: new Float32Array(n * 4) },
    outputs: { s_m: { dims: [n, 2], data: m }, s_q: { dims: [n, 2], data: q } },
    probabilities: Float32Array.from({ length: n * 2 }, (_, i) => (i % 2 ? 0.3 : 0.7)),
    batch: n,
    classes: 2,
    latencyMs: 1,
  } as unknown as InferenceEvent;
}

describe('edge drift monitor: layer sketches', () => {
  it('reports the served student’s per-layer sketch pooled over the period when the reference asks for it, and only above 256 inferences', () => {
    let now = 1_000_000;
    const reports: DriftReport[] = [];
    const m = createDriftMonitor({ clock: () => now, publish: (r) => reports.push(r), reportEveryMs: 60_000, baselineSamples: 0, random: createRandom(1) });
    m.onModelActivated(manifest(true), ref);
    const r = createRandom(3);
    m.observe(batch(100, now, r));
    m.flush();
    expect(parseDriftReport.parse(reports[0]).layerSketches).toBeUndefined(); // 100 < 256: nothing leaves
    for (let i = 0; i < 5; i++) m.observe(batch(100, (now += 1000), r));
    m.flush();
    const sketch = parseDriftReport.parse(reports[1]).layerSketches!;
    expect(sketch).toHaveLength(1);
    expect(sketch[0]).toMatchObject({ layer: 'conv1_bn', sampleCount: 500 });
    expect(sketch[0]!.mean[0]).toBeCloseTo(1, 1);
    expect(sketch[0]!.mean[1]).toBeCloseTo(-2, 1);
    // Total variance = within-sample (0.25, 1) + between-sample (1/12 for a unit uniform).
    expect(sketch[0]!.variance[0]).toBeCloseTo(0.25 + 1 / 12, 1);
    expect(sketch[0]!.variance[1]).toBeCloseTo(1 + 1 / 12, 1);
  });

  it('sends no sketch for a package whose reference lists none', () => {
    const reports: DriftReport[] = [];
    const m = createDriftMonitor({ clock: () => 0, publish: (r) => reports.push(r), baselineSamples: 0 });
    m.onModelActivated(manifest(false), ref);
    m.observe(batch(300, 0, createRandom(4)));
    m.flush();
    expect(reports[0]!.layerSketches).toBeUndefined();
  });
});
