import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import { ReplayBuffer, type BufferHeader, type ReplayBufferOptions } from './replay-buffer';
import { atomicWriteFile } from './tensor-file';

/**
 * A saved replay buffer: `buffer.bin` (samples) + `buffer.json` (header). The header carries
 * `contentSha256`, the SHA-256 of the header's other fields (as written) followed by the body; a
 * load recomputes it and refuses a mismatch, so a body swapped for other pixels, a truncated file
 * or an edited header (provenance, shapes) is caught before any sample is used.
 */
export function saveBuffer(dir: string, buffer: ReplayBuffer, extra: Record<string, unknown> = {}): void {
  const { header, body } = buffer.serialize();
  const fields = { ...header, ...extra };
  atomicWriteFile(join(dir, 'buffer.bin'), body);
  atomicWriteFile(join(dir, 'buffer.json'), JSON.stringify({ ...fields, contentSha256: contentHash(fields, body) }, null, 2));
}

/** Loads a saved buffer, e.g. to warm-start a retrain; `override` may change capacity or sampling. */
export function loadBuffer(dir: string, override?: Partial<ReplayBufferOptions>): ReplayBuffer {
  const h = join(dir, 'buffer.json');
  const b = join(dir, 'buffer.bin');
  if (!existsSync(h) || !existsSync(b)) throw new EdgekdError('EDGEKD_NOT_FOUND', `no saved replay buffer in ${dir} (buffer.json + buffer.bin)`);
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(readFileSync(h, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `${h} is not JSON`, { cause: e });
  }
  const { contentSha256, ...fields } = parsed;
  const body = readFileSync(b);
  if (typeof contentSha256 !== 'string') {
    throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `${h} has no contentSha256: it was not written by this version of edgekd, so its samples cannot be trusted; regenerate it`);
  }
  if (contentHash(fields, body) !== contentSha256) {
    throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `replay buffer in ${dir} does not match its content hash (changed or truncated after it was written)`);
  }
  return ReplayBuffer.deserialize(fields as unknown as BufferHeader, body, override);
}

function contentHash(fields: Record<string, unknown>, body: Uint8Array): string {
  return createHash('sha256').update(JSON.stringify(fields)).update(body).digest('hex');
}
