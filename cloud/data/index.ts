export { isBuiltinDataset, getDatasetInfo, inputRange } from './dataset-info';
export { evenSubset, type LabelledSplit } from './labelled-split';
export { loadFashionMnist, loadMnist } from './npm-datasets';
export { DEBIAN_FASHION_MNIST_DIR, loadOfficialMnist } from './official-datasets';
export { loadCifar10, loadCifar10Raw } from './cifar10-dataset';
export { loadBuiltinDataset } from './builtin-datasets';
export { readIdxFile } from './idx-file';
export { loadImageFolder } from './image-folder';
export { viewForPurpose, type SplitPurpose } from './split-purpose';
