export { buildModel, zooArchs, zooEntries, isZooArch, assertZooArch, type ZooArch, type ZooEntry, type BuildOptions } from './zoo';
export { countParams, countMacs, layerMacs, type ParamCount } from './model-stats';
export { ModelCard, parseModelCard } from './model-card';
export {
  saveModel,
  loadModel,
  loadTeacher,
  readModelCard,
  writeModelCard,
  serializeModel,
  deserializeModel,
  MODEL_JSON,
  WEIGHTS_BIN,
  MODEL_CARD,
  type SerializedModel,
  type LoadedTeacher,
} from './model-io';
