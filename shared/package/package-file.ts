import { EdgekdError } from '../errors';
import { parseJson } from '../contracts/parse';
import type { ModelPackage } from './build-package';
import type { PackageContents } from './verify-package';

/**
 * Single-file form (`.ekpkg`) for transport and storage:
 *   bytes 0..7   ASCII "EDGEKDPK"
 *   bytes 8..11  format version, uint32 little-endian (1)
 *   bytes 12..15 header length H, uint32 little-endian
 *   next H bytes UTF-8 JSON {"manifest": …, "signature": …}
 *   the rest     model.onnx bytes
 * The header is not itself trusted: verifyPackage checks it exactly as it checks a directory.
 */
export const PACKAGE_FILE_MAGIC = 'EDGEKDPK';
export const PACKAGE_FILE_VERSION = 1;
const PREFIX = 16;
const MAX_HEADER = 16 * 2 ** 20;

export function encodePackageFile(pkg: ModelPackage): Uint8Array {
  const header = Buffer.from(JSON.stringify({ manifest: pkg.manifest, signature: pkg.signature }), 'utf8');
  const out = Buffer.alloc(PREFIX + header.length + pkg.model.byteLength);
  out.write(PACKAGE_FILE_MAGIC, 0, 'ascii');
  out.writeUInt32LE(PACKAGE_FILE_VERSION, 8);
  out.writeUInt32LE(header.length, 12);
  header.copy(out, PREFIX);
  out.set(pkg.model, PREFIX + header.length);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export function decodePackageFile(bytes: Uint8Array): PackageContents {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < PREFIX || b.toString('ascii', 0, 8) !== PACKAGE_FILE_MAGIC) throw new EdgekdError('EDGEKD_PACKAGE_INVALID', 'not an edgekd package file (bad magic)');
  const version = b.readUInt32LE(8);
  if (version !== PACKAGE_FILE_VERSION) throw new EdgekdError('EDGEKD_PACKAGE_INVALID', `package file format version ${version} is not supported (expected ${PACKAGE_FILE_VERSION})`);
  const h = b.readUInt32LE(12);
  if (h > MAX_HEADER || PREFIX + h > b.length) throw new EdgekdError('EDGEKD_PACKAGE_INVALID', `package file header length ${h} exceeds the file (${b.length} bytes)`);
  const header = parseJson(b.subarray(PREFIX, PREFIX + h), 'package file header', 'EDGEKD_PACKAGE_INVALID');
  if (typeof header !== 'object' || header === null) throw new EdgekdError('EDGEKD_PACKAGE_INVALID', 'package file header is not an object');
  const { manifest, signature } = header as Record<string, unknown>;
  return { manifest, signature, model: new Uint8Array(b.buffer, b.byteOffset + PREFIX + h, b.length - PREFIX - h) };
}
