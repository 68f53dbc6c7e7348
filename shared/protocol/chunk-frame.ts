import { EdgekdError } from '../errors';
import { parseJson } from '../contracts/parse';

/**
 * The binary frame of a chunk response:
 *   "EKC1" | u32 big-endian header length H | H bytes UTF-8 JSON header | raw chunk bytes
 * A frame is decoded without copying the data bytes (the returned view shares the payload).
 */
const MAGIC = [0x45, 0x4b, 0x43, 0x31]; // "EKC1"
const PREFIX_BYTES = 8;
const MAX_HEADER_BYTES = 16 * 1024;

export function writeChunkFrame(header: unknown, data: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.allocUnsafe(PREFIX_BYTES + json.length + data.length);
  out.set(MAGIC, 0);
  out.writeUInt32BE(json.length, 4);
  json.copy(out, PREFIX_BYTES);
  out.set(data, PREFIX_BYTES + json.length);
  return out;
}

/** Splits a frame into its (unvalidated) JSON header and its data bytes, or throws EDGEKD_MESSAGE_INVALID. */
export function readChunkFrame(payload: Uint8Array): { header: unknown; data: Uint8Array } {
  if (payload.length < PREFIX_BYTES || MAGIC.some((b, i) => payload[i] !== b)) {
    throw new EdgekdError('EDGEKD_MESSAGE_INVALID', 'invalid chunk frame: missing "EKC1" prefix');
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const headerLength = view.getUint32(4, false);
  if (headerLength > MAX_HEADER_BYTES || PREFIX_BYTES + headerLength > payload.length) {
    throw new EdgekdError('EDGEKD_MESSAGE_INVALID', `invalid chunk frame: header length ${headerLength} does not fit a ${payload.length}-byte frame`);
  }
  const header = parseJson(payload.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength), 'chunk frame header');
  return { header, data: payload.subarray(PREFIX_BYTES + headerLength) };
}
