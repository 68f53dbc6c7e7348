import type { ComputeBackend } from './init-compute';
import type { LossSpec } from './losses';

/**
 * Messages between the data-parallel trainer (main thread) and its gradient workers. Both ends
 * are this folder's code in one process, so the contract is a TypeScript type, checked at the
 * worker by `type` plus shape assertions in the worker.
 */
export interface WireTensor {
  data: Float32Array | Int32Array;
  shape: number[];
  dtype: 'float32' | 'int32';
}

export type ToWorker =
  | {
      type: 'init';
      /** `model.toJSON(null, false)`: the layers topology; weights arrive with every step. */
      topology: object;
      loss: LossSpec;
      backend?: ComputeBackend;
      wasmSpeedups?: boolean;
    }
  | {
      type: 'step';
      id: number;
      /** Values of model.trainableWeights then model.nonTrainableWeights, in order. */
      trainable: Float32Array[];
      nonTrainable: Float32Array[];
      x: WireTensor;
      y: WireTensor;
    }
  | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; backend: string; reason: string }
  | {
      type: 'grads';
      id: number;
      loss: number;
      /** One per trainable weight, in order: the gradient of this shard's mean loss. */
      grads: Float32Array[];
      /** Non-trainable weights after the step (BatchNorm moving statistics updated by the shard). */
      nonTrainable: Float32Array[];
      ms: number;
      /** CPU time of the worker thread for this step (ms; NaN off Linux). */
      cpuMs: number;
    }
  | { type: 'error'; id?: number; message: string; code?: string };

