import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import { ReplayBuffer, type BufferHeader, type ReplayBufferOptions } from './replay-buffer';
import { atomicWriteFile } from './tensor-file';

/** Saves a replay buffer as `buffer.bin` + `buffer.json` in `dir` (atomic renames). */
export function saveBuffer(dir: string, buffer: ReplayBuffer, extra: Record<string, unknown> = {}): void {
  const { header, body } = buffer.serialize();
  atomicWriteFile(join(dir, 'buffer.bin'), body);
  atomicWriteFile(join(dir, 'buffer.json'), JSON.stringify({ ...header, ...extra }, null, 2));
}

/** Loads a saved buffer, e.g. to warm-start a retrain; `override` may change capacity or sampling. */
export function loadBuffer(dir: string, override?: Partial<ReplayBufferOptions>): ReplayBuffer {
  const h = join(dir, 'buffer.json');
  const b = join(dir, 'buffer.bin');
  if (!existsSync(h) || !existsSync(b)) throw new EdgekdError('EDGEKD_NOT_FOUND', `no saved replay buffer in ${dir} (buffer.json + buffer.bin)`);
  let header: BufferHeader;
  try {
    header = JSON.parse(readFileSync(h, 'utf8')) as BufferHeader;
  } catch (e) {
    throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `${h} is not JSON`, { cause: e });
  }
  return ReplayBuffer.deserialize(header, readFileSync(b), override);
}
