import type * as tf from '@tensorflow/tfjs';
import { saveBuffer } from '../../distill/buffer-file';
import { ReplayBuffer } from '../../distill/replay-buffer';
import { NoiseSynthesizer } from '../../distill/noise-synthesizer';
import { saveModel } from '../../zoo/model-io';
import type { ModelCard } from '../../zoo/model-card';
import { createRandom } from '../../../shared/random/seeded-random';

/**
 * Writes a directory shaped like `edgekd distill` output (model, card, replay buffer) around
 * `model`, with `samples` pseudo-random synthetic images in the buffer, for export tests.
 */
export async function writeStudentDir(dir: string, model: tf.LayersModel, o: { samples?: number; dataset?: string; seed?: number } = {}): Promise<void> {
  const shape = model.inputs[0]!.shape.slice(1) as [number, number, number];
  const classes = (model.outputs[0]!.shape[1] ?? 10) as number;
  const card: ModelCard = {
    schemaVersion: 1,
    name: `${model.name}-test-student`,
    architecture: model.name,
    output: 'logits',
    inputShape: shape,
    numClasses: classes,
    classNames: Array.from({ length: classes }, (_, i) => `class-${i}`),
    normalization: { kind: 'range', low: -1, high: 1, rawMax: 255 },
    dataset: { name: o.dataset ?? 'none', split: 'n/a' },
    accuracy: null,
    params: { total: 0, trainable: 0 },
    macs: 0,
    training: { command: 'test fixture', seed: o.seed ?? 1 },
    createdAt: new Date(0).toISOString(),
  };
  await saveModel(model, dir, card);
  const n = o.samples ?? 64;
  const buffer = new ReplayBuffer({ capacity: n, sampleShape: shape, numClasses: classes, prioritized: false, alpha: 0.6, epsilon: 1e-3 });
  const probs = new Float32Array(n * classes);
  for (let i = 0; i < n; i++) probs[i * classes + (i % classes)] = 1;
  buffer.insert(new NoiseSynthesizer(shape, { low: -1, high: 1 }, createRandom(o.seed ?? 1)).batch(n), probs, new Float32Array(n).fill(1), { fraction: 1, ordered: false, balanced: true, evict: true });
  saveBuffer(dir, buffer, { runJobId: 'test-run' });
}
