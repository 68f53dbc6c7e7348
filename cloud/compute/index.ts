export { initCompute, wasmTrainingKernelsReady, COMPUTE_BACKENDS, type ComputeBackend, type ComputeChoice, type InitComputeOptions } from './init-compute';
export { registerConvGradKernels, registerKernels } from './register-kernels';
