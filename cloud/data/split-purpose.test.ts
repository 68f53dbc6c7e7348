import { describe, expect, it } from 'vitest';
import { isEdgekdError } from '../../shared/errors';
import { FASHION_MNIST_INFO } from './dataset-info';
import { makeSplit, type LoadedDataset } from './labelled-split';
import { viewForPurpose } from './split-purpose';

const split = (n: number, fill: number) => makeSplit(new Float32Array(n * 784).fill(fill), new Int32Array(n), [28, 28, 1]);
const data: LoadedDataset = { info: FASHION_MNIST_INFO, train: split(3, 0), validation: split(2, 0.5), test: split(1, 1) };

describe('split purpose', () => {
  it('gives a tuning run the validation split and no test split at all', () => {
    const v = viewForPurpose(data, 'tune');
    expect(v.validation).toBe(data.validation);
    expect('test' in v).toBe(false);
    expect(Object.values(v)).not.toContain(data.test);
  });

  it('gives a reporting run the test split as well', () => {
    expect(viewForPurpose(data, 'report').test).toBe(data.test);
  });

  it('refuses a dataset without a validation split, and an unknown purpose', () => {
    const noVal: LoadedDataset = { info: FASHION_MNIST_INFO, train: data.train, test: data.test };
    for (const f of [() => viewForPurpose(noVal, 'tune'), () => viewForPurpose(data, 'final' as never)]) {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(isEdgekdError(err, 'EDGEKD_INVALID_ARGUMENT')).toBe(true);
    }
  });
});
