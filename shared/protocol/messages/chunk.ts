import { Type, type Static } from 'typebox';
import { Id, NonNegativeInt, Sha256Hex, WireError } from './common';

/**
 * Model delivery over MQTT: the device pulls, the cloud answers. The device keeps a small window of
 * requests in flight, re-requests a chunk whose answer did not arrive within its timeout, and
 * after a restart or reconnect continues from the first chunk it does not have. The cloud never
 * pushes unrequested chunks, so a device that disappears costs nothing.
 */
export const ChunkRequest = Type.Object({
  schema: Type.Literal('edgekd.chunk-request/1'),
  requestId: Id,
  deploymentId: Id,
  /** sha256 of the whole file (from the offer's delivery plan): names the artifact. */
  sha256: Sha256Hex,
  index: NonNegativeInt,
});
export type ChunkRequest = Static<typeof ChunkRequest>;

/**
 * The header of a chunk response. The payload on the wire is a binary frame (see chunk-frame.ts):
 *
 *   bytes 0..3   ASCII "EKC1"
 *   bytes 4..7   header length H, unsigned 32-bit big-endian
 *   bytes 8..8+H UTF-8 JSON of this header
 *   the rest     the chunk's raw bytes (empty when `error` is set)
 *
 * Raw bytes avoid base64's 33 % inflation. `chunkSha256` repeats the hash of this chunk so a
 * receiver can check a frame on its own; the device still checks it against the offer's list.
 */
export const ChunkHeader = Type.Object({
  schema: Type.Literal('edgekd.chunk/1'),
  requestId: Id,
  deploymentId: Id,
  sha256: Sha256Hex,
  index: NonNegativeInt,
  offset: NonNegativeInt,
  chunkSha256: Type.Optional(Sha256Hex),
  /** Set instead of data when the cloud cannot serve the chunk (unknown deployment, bandwidth cap). */
  error: Type.Optional(WireError),
  /** With a bandwidth-cap error: retry no sooner than this many ms. */
  retryAfterMs: Type.Optional(NonNegativeInt),
});
export type ChunkHeader = Static<typeof ChunkHeader>;

/** The decoded chunk response: header plus the data bytes (a view into the received payload). */
export interface ChunkResponse {
  readonly header: ChunkHeader;
  readonly data: Uint8Array;
}
