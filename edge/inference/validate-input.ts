import { EdgekdError } from '../../shared/errors';
import type { ModelInput } from '../../shared/package';
import type { TensorInput } from '../../shared/protocol';
import type { Tensor, TensorData } from './engine';

/**
 * Turns a request's tensor into the model's input, checked against the manifest: dtype equal,
 * same rank, every fixed dimension equal (symbolic ones such as the batch "N" take any positive
 * size), as many values as the shape implies, all finite. Any violation is EDGEKD_INPUT_SHAPE
 * with the expected and received shapes in `details`.
 *
 * Values are raw values as the manifest's `normalisation.rawRange` describes them; for float32
 * models the per-channel `raw * scale + offset` is applied here, once, for every caller.
 */
const BYTES_PER: Record<Tensor['dtype'], number> = { float32: 4, uint8: 1, int8: 1 };

function shapeError(message: string, spec: ModelInput, got: unknown): EdgekdError {
  return new EdgekdError('EDGEKD_INPUT_SHAPE', message, { details: { expected: { shape: spec.shape, dtype: spec.dtype }, got } });
}

export function toModelInput(req: TensorInput, spec: ModelInput): Tensor {
  const got = { shape: req.shape, dtype: req.dtype };
  if (req.dtype !== spec.dtype) throw shapeError(`input dtype ${req.dtype} does not match the model's ${spec.dtype}`, spec, got);
  if (req.shape.length !== spec.shape.length) {
    throw shapeError(`input rank ${req.shape.length} does not match the model's shape [${spec.shape.join(', ')}]`, spec, got);
  }
  spec.shape.forEach((d, i) => {
    const g = req.shape[i]!;
    if (!Number.isInteger(g) || g < 1) throw shapeError(`input dimension ${i} must be a positive integer, got ${g}`, spec, got);
    if (typeof d === 'number' && g !== d) {
      throw shapeError(`input shape [${req.shape.join(', ')}] does not match the model's [${spec.shape.join(', ')}] at dimension ${i}`, spec, got);
    }
  });
  const count = req.shape.reduce((a, b) => a * b, 1);
  if ((req.data === undefined) === (req.dataBase64 === undefined)) {
    throw shapeError('give exactly one of input.data and input.dataBase64', spec, got);
  }
  let data: TensorData;
  if (req.data !== undefined) {
    if (req.data.length !== count) throw shapeError(`shape [${req.shape.join(', ')}] needs ${count} values, got ${req.data.length}`, spec, got);
    data = req.dtype === 'float32' ? Float32Array.from(req.data) : req.dtype === 'uint8' ? Uint8Array.from(req.data) : Int8Array.from(req.data);
  } else {
    const bytes = Buffer.from(req.dataBase64!, 'base64');
    const need = count * BYTES_PER[req.dtype];
    if (bytes.length !== need) throw shapeError(`shape [${req.shape.join(', ')}] needs ${need} bytes of ${req.dtype}, got ${bytes.length}`, spec, got);
    const copy = new Uint8Array(bytes); // aligned copy
    data = req.dtype === 'float32' ? new Float32Array(copy.buffer, 0, count) : req.dtype === 'uint8' ? copy : new Int8Array(copy.buffer, 0, count);
  }
  if (data instanceof Float32Array) {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i]!)) throw shapeError(`input value ${i} is not a finite number`, spec, got);
    }
    normalise(data, req.shape, spec);
  }
  return { dtype: req.dtype, dims: req.shape, data };
}

function normalise(data: Float32Array, shape: readonly number[], spec: ModelInput): void {
  const { scale, offset } = spec.normalisation;
  const identity = scale.every((s) => s === 1) && offset.every((o) => o === 0);
  if (identity) return;
  const channelAxis = spec.layout === 'NCHW' ? 1 : shape.length - 1;
  const channels = shape[channelAxis]!;
  const inner = shape.slice(channelAxis + 1).reduce((a, b) => a * b, 1);
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / inner) % channels;
    data[i] = data[i]! * (scale[c] ?? scale[0]!) + (offset[c] ?? offset[0]!);
  }
}

/** A zero input of the model's shape with symbolic dimensions set to 1 (for warm-up runs). */
export function zeroInput(spec: ModelInput): Tensor {
  const dims = spec.shape.map((d) => (typeof d === 'number' ? d : 1));
  const n = dims.reduce((a, b) => a * b, 1);
  const data = spec.dtype === 'float32' ? new Float32Array(n) : spec.dtype === 'uint8' ? new Uint8Array(n) : new Int8Array(n);
  return { dtype: spec.dtype, dims, data };
}
