import type { Readable } from 'node:stream';

/** A stored blob, named by the SHA-256 of its bytes (lowercase hex). */
export interface ArtifactRef {
  readonly sha256: string;
  readonly sizeBytes: number;
}

/**
 * Content-addressed artifact storage shared by every cloud process (checkpoints, students,
 * buffers, packages). Content addressing makes writes idempotent and races harmless: two
 * processes putting the same bytes produce one artifact, and a reader can verify what it got.
 * The filesystem implementation (`fs-artifact-store.ts`) works on a shared path; an S3-compatible
 * one fits the same methods (put = PutObject under `sha256/<hex>` after hashing, get/read =
 * GetObject with a Range header, list = ListObjectsV2 on the prefix).
 */
export interface ArtifactStore {
  /** Stores the bytes; returns their address. Putting bytes already stored is a no-op. */
  put(data: Uint8Array | AsyncIterable<Uint8Array>): Promise<ArtifactRef>;
  /** The whole artifact, or null when absent. */
  get(sha256: string): Promise<Uint8Array | null>;
  /** Bytes `start` ≤ i < `end` (end defaults to the size); EDGEKD_NOT_FOUND when absent, EDGEKD_INVALID_ARGUMENT for a range outside it. */
  read(sha256: string, range?: { start: number; end?: number }): Promise<Readable>;
  stat(sha256: string): Promise<ArtifactRef | null>;
  list(): AsyncIterable<ArtifactRef>;
}
