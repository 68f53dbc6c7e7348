export { initCompute, type ComputeBackend } from './init-compute';
export { createDataParallelTrainer } from './data-parallel-trainer';
export { builtinLosses } from './losses';
export { modelGradients, inputGradient, trainableVariables } from './model-gradients';
export { threadCpuMs } from './thread-cpu-time';
export { wasmSpeedupSwitches } from './wasm-speedups';
export { convGradSwitches } from './conv-grad-kernels';
