import * as tf from '@tensorflow/tfjs';

/**
 * Backend-level composition of kernels. A kernel registered on a backend receives and returns
 * `TensorInfo`s (a data id plus shape), not `Tensor`s; calling other kernels of the same backend
 * directly keeps the work out of the engine (no tape, no tensor tracking) and lets us free every
 * intermediate buffer as soon as it is consumed.
 *
 * Invariant: every info returned by `run` owns one reference to its buffer and must be passed to
 * `free` exactly once, unless it is the kernel's return value. `view` shares the buffer of its
 * source and is never freed on its own.
 */
export type Info = tf.TensorInfo;
export type Backend = tf.KernelBackend;
export type ConvPad = [[number, number], [number, number], [number, number], [number, number]];

export interface BackendOps {
  backend: Backend;
  run(kernelName: string, inputs: Record<string, Info>, attrs?: Record<string, unknown>): Info;
  free(...infos: Info[]): void;
  view(info: Info, shape: number[]): Info;
  transpose(x: Info, perm: number[]): Info;
  pad(x: Info, paddings: Array<[number, number]>): Info;
  /** Slice `size` elements starting at `begin` along every axis. */
  slice(x: Info, begin: number[], size: number[]): Info;
  conv2d(x: Info, filter: Info, strides: [number, number], dilations: [number, number], pad: ConvPad): Info;
  depthwise(x: Info, filter: Info, strides: [number, number], dilations: [number, number], pad: ConvPad): Info;
}

export function backendOps(backend: Backend, backendName: string): BackendOps {
  const kernel = (name: string): tf.KernelConfig => {
    const k = tf.getKernel(name, backendName);
    if (!k) throw new Error(`kernel ${name} is not registered for backend ${backendName}`);
    return k;
  };
  const run: BackendOps['run'] = (kernelName, inputs, attrs = {}) => {
    const out = kernel(kernelName).kernelFunc({ inputs, attrs: attrs as tf.NamedAttrMap, backend });
    if (Array.isArray(out)) throw new Error(`kernel ${kernelName} returned several outputs`);
    return out;
  };
  const ops: BackendOps = {
    backend,
    run,
    free: (...infos) => {
      for (const i of infos) backend.disposeData(i.dataId);
    },
    view: (info, shape) => ({ dataId: info.dataId, dtype: info.dtype, shape }),
    transpose: (x, perm) => run('Transpose', { x }, { perm }),
    pad: (x, paddings) => run('PadV2', { x }, { paddings, constantValue: 0 }),
    slice: (x, begin, size) => {
      const unchanged = begin.every((b) => b === 0) && size.every((s, i) => s === x.shape[i]);
      if (unchanged) return run('Identity', { x });
      // Slice on wasm copies through JS; it is only used on small tensors (filter-sized
      // outputs) or rare odd-size cases.
      return run('Slice', { x }, { begin, size });
    },
    conv2d: (x, filter, strides, dilations, pad) =>
      run('Conv2D', { x, filter }, { strides, dilations, pad, dataFormat: 'NHWC', dimRoundingMode: undefined }),
    depthwise: (x, filter, strides, dilations, pad) =>
      run('DepthwiseConv2dNative', { x, filter }, { strides, dilations, pad, dimRoundingMode: undefined }),
  };
  return ops;
}
