import type { ModelCard } from '../zoo/model-card';
import type { CurrentModel } from './engine-steps';
import type { DistillConfigInput } from '../distill/config';

/** A valid model card for a small student of `classes` classes (tests only). */
export function studentCard(classes: number, dataset = 'fashion-mnist'): ModelCard {
  return {
    schemaVersion: 1,
    name: 'tiny-student',
    architecture: 'tiny',
    output: 'logits',
    inputShape: [8, 8, 1],
    numClasses: classes,
    classNames: Array.from({ length: classes }, (_, i) => `c${i}`),
    normalization: { kind: 'range', low: -1, high: 1, rawMax: 255 },
    dataset: { name: dataset, split: 'test fixture' },
    accuracy: null,
    params: { total: 1, trainable: 1 },
    macs: 1,
    training: { command: 'test', seed: 1 },
    createdAt: '2026-01-01T00:00:00.000Z',
  };
}

/** The deployed-model description of a 3-class tiny student saved in `studentDir` with its buffer (tests only). */
export function tinyCurrentModel(studentDir: string, packageVersion: number): CurrentModel {
  return {
    studentDir,
    bufferDir: studentDir,
    packageName: 'fm-student',
    packageVersion,
    packageSha256: 'c'.repeat(64),
    labels: ['a', 'b', 'c'],
    normalisation: { rawRange: [0, 255], scale: [2 / 255], offset: [-1] },
    inputRange: { low: -1, high: 1 },
    flipInvariant: false,
  };
}

/** A distillation schedule small enough for a test to run the real engine in seconds. */
export const TINY_DISTILL: DistillConfigInput = { epochs: 2, warmupEpochs: 0, kdStepsPerEpoch: 2, batchSize: 16, budget: 0.5, trainSetSize: 64, synthesis: { batchSize: 16, gSteps: 1 }, generator: { nz: 8, ngf: 4 } };
