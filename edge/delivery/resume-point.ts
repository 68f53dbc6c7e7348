import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import type { Delivery } from '../../shared/protocol';

/**
 * How many leading chunks of a partial download are good. Each chunk already on disk is hashed
 * against the offer's list (a crash can leave a torn last write, and a disk can lie), and the
 * file is truncated right after the last good chunk, so appending continues from a verified prefix.
 */
export async function resumePoint(partPath: string, delivery: Delivery): Promise<number> {
  let fh;
  try {
    fh = await open(partPath, 'r+');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
  try {
    const { size } = await fh.stat();
    const total = delivery.chunkSha256.length;
    const buf = Buffer.allocUnsafe(delivery.chunkBytes);
    let good = 0;
    for (let i = 0; i < total; i++) {
      const start = i * delivery.chunkBytes;
      const len = Math.min(delivery.chunkBytes, delivery.sizeBytes - start);
      if (start + len > size) break;
      const { bytesRead } = await fh.read(buf, 0, len, start);
      if (bytesRead !== len) break;
      if (createHash('sha256').update(buf.subarray(0, len)).digest('hex') !== delivery.chunkSha256[i]) break;
      good = i + 1;
    }
    const keep = Math.min(size, good * delivery.chunkBytes);
    if (keep !== size) await fh.truncate(keep);
    return good;
  } finally {
    await fh.close();
  }
}

export function chunkLength(delivery: Delivery, index: number): number {
  return Math.min(delivery.chunkBytes, delivery.sizeBytes - index * delivery.chunkBytes);
}
