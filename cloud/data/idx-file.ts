import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { EdgekdError } from '../../shared/errors';

/**
 * IDX, the format of the official MNIST and Fashion-MNIST files: a 4-byte magic (two zero bytes,
 * a type code, the number of dimensions), then each dimension as a big-endian uint32, then the
 * values. Both datasets use unsigned bytes (type 0x08): images are [n, 28, 28], labels [n].
 * Gzipped files (the Debian package ships `.gz`) are recognised by their magic and inflated.
 */
export interface IdxArray {
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

const UBYTE = 0x08;

export function parseIdx(bytes: Uint8Array, what: string): IdxArray {
  const buf = bytes[0] === 0x1f && bytes[1] === 0x8b ? inflate(bytes, what) : bytes;
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) throw invalid(what, 'not an IDX file (bad magic)');
  if (buf[2] !== UBYTE) throw invalid(what, `IDX type 0x${buf[2]!.toString(16)} is not unsigned byte`);
  const rank = buf[3]!;
  const header = 4 + 4 * rank;
  if (rank < 1 || buf.length < header) throw invalid(what, 'truncated IDX header');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < rank; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const count = dims.reduce((a, b) => a * b, 1);
  if (buf.length !== header + count) throw invalid(what, `holds ${buf.length - header} values, header says ${count}`);
  return { dims, data: buf.subarray(header) };
}

/** Reads an IDX file (plain or gzipped); a missing file is EDGEKD_DATASET_MISSING with `hint`. */
export function readIdxFile(path: string, hint: string): IdxArray {
  if (!existsSync(path)) {
    throw new EdgekdError('EDGEKD_DATASET_MISSING', `${path} is missing; ${hint}`, { details: { path } });
  }
  return parseIdx(readFileSync(path), path);
}

function inflate(bytes: Uint8Array, what: string): Uint8Array {
  try {
    return gunzipSync(bytes);
  } catch (e) {
    throw new EdgekdError('EDGEKD_DATASET_INVALID', `${what}: corrupt gzip data`, { cause: e, details: { path: what } });
  }
}

function invalid(what: string, why: string): EdgekdError {
  return new EdgekdError('EDGEKD_DATASET_INVALID', `${what}: ${why}`, { details: { path: what } });
}
