import { numberFlag, parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { EdgekdError } from '../../shared/errors';
import { createLogger } from '../../shared/log/logger';
import { initCompute, type ComputeBackend } from '../compute';
import { evenSubset } from '../data/labelled-split';
import { loadTeacher } from '../zoo/model-io';
import { evaluateModel } from '../teacher/evaluate';
import { loadTrainingData } from '../teacher/load-training-data';

const HELP = `usage: edgekd teacher eval --teacher DIR (--dataset NAME | --dataset-dir DIR) [--json] [--limit N]

Evaluates a saved model on the test split of a dataset.

  --teacher DIR        a model directory (model.json, weights.bin, model-card.json)
  --dataset NAME       fashion-mnist | mnist | cifar10 (any built-in dataset)
  --dataset-dir DIR    your own PNGs (the input shape comes from the model card)
  --limit N            evaluate on N test images spread evenly over the split
  --json               print {"accuracy": …, "samples": …} only
  --backend B          tensorflow | wasm | cpu`;

export async function run(argv: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(
    argv,
    {
      teacher: { type: 'string' },
      dataset: { type: 'string' },
      'dataset-dir': { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      backend: { type: 'string' },
    },
    HELP,
  );
  if (help) return 0;
  const dir = requireFlag(values.teacher, 'teacher');
  const log = createLogger('teacher-eval');
  await initCompute({ ...(values.backend ? { backend: values.backend as ComputeBackend } : {}), logger: log });
  const teacher = await loadTeacher(dir);
  const data = loadTrainingData({ dataset: values.dataset, datasetDir: values['dataset-dir'], inputShape: teacher.card.inputShape.join('x'), normalization: teacher.card.normalization });
  if (data.info.numClasses !== teacher.card.numClasses) {
    throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `the model has ${teacher.card.numClasses} classes, dataset ${data.info.name} has ${data.info.numClasses}`);
  }
  const limit = values.limit ? numberFlag(values.limit, 'limit', 0, { min: 1 }) : undefined;
  const test = limit ? evenSubset(data.test, limit) : data.test;
  const r = evaluateModel(teacher.model, test);
  if (values.json) console.log(JSON.stringify({ accuracy: r.accuracy, samples: r.samples }));
  else console.log(`${dir} on ${data.info.name} test split: accuracy ${r.accuracy.toFixed(4)} over ${r.samples} images (card says ${teacher.card.accuracy?.test ?? 'n/a'})`);
  teacher.model.dispose();
  return 0;
}
