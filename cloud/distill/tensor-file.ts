import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { EdgekdError } from '../../shared/errors';

/**
 * A list of float32 tensors in two files: `<path>.json` (shapes, offsets) and `<path>.bin`.
 * Writes go to a temporary name first and are renamed into place, so a kill never leaves a
 * half-written file under the final name.
 */
export function atomicWriteFile(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export function saveTensorList(path: string, tensors: readonly tf.Tensor[]): void {
  const entries: Array<{ shape: number[]; offset: number; length: number }> = [];
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const t of tensors) {
    const data = t.dataSync() as Float32Array;
    const bytes = Buffer.from(new Float32Array(data).buffer);
    entries.push({ shape: t.shape, offset, length: bytes.length });
    chunks.push(bytes);
    offset += bytes.length;
  }
  atomicWriteFile(`${path}.bin`, Buffer.concat(chunks));
  atomicWriteFile(`${path}.json`, JSON.stringify({ format: 'edgekd-tensors', version: 1, dtype: 'float32', entries }));
}

export function loadTensorList(path: string): tf.Tensor[] {
  if (!existsSync(`${path}.json`) || !existsSync(`${path}.bin`)) throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `missing ${path}.json/.bin`);
  let header: { format: string; entries: Array<{ shape: number[]; offset: number; length: number }> };
  try {
    header = JSON.parse(readFileSync(`${path}.json`, 'utf8'));
  } catch (e) {
    throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `${path}.json is not JSON`, { cause: e });
  }
  if (header.format !== 'edgekd-tensors') throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `${path}.json is not a tensor list`);
  const body = readFileSync(`${path}.bin`);
  const buf = new Uint8Array(body).buffer;
  return header.entries.map((e) => {
    if (e.offset + e.length > buf.byteLength) throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `${path}.bin is truncated`);
    return tf.tensor(new Float32Array(buf, e.offset, e.length / 4), e.shape);
  });
}
