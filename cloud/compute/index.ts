export { initCompute, wasmTrainingKernelsReady, COMPUTE_BACKENDS, type ComputeBackend, type ComputeChoice, type InitComputeOptions } from './init-compute';
export { registerConvGradKernels, registerKernels } from './register-kernels';
export { registerWasmSpeedups } from './wasm-speedups';
export { createDataParallelTrainer, shardSizes, type DataParallelTrainer, type DataParallelTrainerOptions, type DataParallelStats } from './data-parallel-trainer';
export { builtinLosses, resolveLoss, type LossFn, type LossSpec } from './losses';
export { modelGradients, inputGradient, trainableVariables } from './model-gradients';
export { threadCpuMs } from './thread-cpu-time';
export { registerBatchNormGradients } from './batchnorm-gradients';
