import { createHash } from 'node:crypto';

export interface ChunkPlan {
  sizeBytes: number;
  sha256: string;
  chunkBytes: number;
  chunkSha256: string[];
}

/** The offer allows at most this many chunk hashes; bigger files get bigger chunks. */
const MAX_CHUNKS = 16_000;
const MIN_CHUNK = 1024;
const MAX_CHUNK = 1_048_576;

/**
 * Cuts a file into chunks of `preferredChunkBytes` (grown if the file would need more than
 * MAX_CHUNKS) and hashes each one and the whole, for the offer's delivery plan.
 */
export function planChunks(bytes: Uint8Array, preferredChunkBytes: number): ChunkPlan {
  const chunkBytes = Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, preferredChunkBytes, Math.ceil(bytes.length / MAX_CHUNKS)));
  const chunkSha256: string[] = [];
  for (let off = 0; off < bytes.length; off += chunkBytes) {
    chunkSha256.push(createHash('sha256').update(bytes.subarray(off, Math.min(bytes.length, off + chunkBytes))).digest('hex'));
  }
  return { sizeBytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), chunkBytes, chunkSha256 };
}
