export { buildModel, zooArchs } from './zoo';
export { countParams, countMacs } from './model-stats';
export { saveModel, loadModel, loadTeacher } from './model-io';
