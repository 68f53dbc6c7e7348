import { numberFlag, parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { createLogger } from '../../shared/log/logger';
import { initCompute, type ComputeBackend } from '../compute';
import { evaluateTeacher } from '../teacher/evaluate-teacher';

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
  const limit = values.limit ? numberFlag(values.limit, 'limit', 0, { min: 1 }) : undefined;
  await initCompute({ ...(values.backend ? { backend: values.backend as ComputeBackend } : {}), logger: createLogger('teacher-eval') });
  const r = await evaluateTeacher({ teacherDir: dir, dataset: values.dataset, datasetDir: values['dataset-dir'], ...(limit ? { limit } : {}) });
  if (values.json) console.log(JSON.stringify({ accuracy: r.accuracy, samples: r.samples }));
  else console.log(`${dir} on ${r.dataset} test split: accuracy ${r.accuracy.toFixed(4)} over ${r.samples} images (card says ${r.cardAccuracy ?? 'n/a'})`);
  return 0;
}
