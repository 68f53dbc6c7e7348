import { EdgekdError } from '../../shared/errors';
import type { DatasetInfo } from './dataset-info';
import type { LabelledSplit, LoadedDataset } from './labelled-split';

/**
 * Which split a run may score itself on. `tune` runs (every hyperparameter search, every quick
 * benchmark) get the validation split and no handle on the test split at all; `report` runs (the
 * benchmark's final protocol, with settings already fixed) also get the test split, read once at
 * the end for the reported number.
 */
export type SplitPurpose = 'tune' | 'report';

/** What a tuning run may see: no `test` property exists on it. */
export interface TuningView {
  readonly purpose: 'tune';
  readonly info: DatasetInfo;
  readonly train: LabelledSplit;
  readonly validation: LabelledSplit;
}

export interface ReportView {
  readonly purpose: 'report';
  readonly info: DatasetInfo;
  readonly train: LabelledSplit;
  readonly validation: LabelledSplit;
  readonly test: LabelledSplit;
}

/**
 * Narrows a loaded dataset to what `purpose` may read. A dataset without a validation split (the
 * npm splits) cannot be used for either: tuning on it would mean tuning on test.
 */
export function viewForPurpose(data: LoadedDataset, purpose: 'tune'): TuningView;
export function viewForPurpose(data: LoadedDataset, purpose: 'report'): ReportView;
export function viewForPurpose(data: LoadedDataset, purpose: SplitPurpose): TuningView | ReportView;
export function viewForPurpose(data: LoadedDataset, purpose: SplitPurpose): TuningView | ReportView {
  if (!data.validation) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `dataset '${data.info.name}' has no validation split, so it cannot be used to choose settings or to report benchmark numbers; use an official split (fashion-mnist, mnist)`);
  }
  const base = { info: data.info, train: data.train, validation: data.validation };
  if (purpose === 'tune') return Object.freeze({ purpose, ...base });
  if (purpose === 'report') return Object.freeze({ purpose, ...base, test: data.test });
  throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `split purpose must be 'tune' or 'report', got '${String(purpose)}'`);
}
