import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { EdgekdError } from '../../shared/errors';
import type { ArtifactRef, ArtifactStore } from './artifact-store';

const HEX = /^[0-9a-f]{64}$/;

function checkedSha(sha256: string): string {
  if (!HEX.test(sha256)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `an artifact address is 64 lowercase hex digits (SHA-256), got '${sha256.slice(0, 80)}'`);
  return sha256;
}

/**
 * Artifacts as files under `<root>/sha256/<2 hex>/<64 hex>`, on a path every process mounts.
 * A put writes to a temporary file in `<root>/tmp`, hashes while writing, fsyncs, and renames
 * into place: a crash leaves no partial artifact under its address, and two processes putting the
 * same bytes both end with the same complete file (rename replaces atomically).
 */
export function createFsArtifactStore(root: string): ArtifactStore {
  const pathOf = (sha: string): string => join(root, 'sha256', sha.slice(0, 2), sha);
  const statOf = async (sha: string): Promise<ArtifactRef | null> => {
    const s = await stat(pathOf(checkedSha(sha))).catch(() => null);
    return s?.isFile() ? { sha256: sha, sizeBytes: s.size } : null;
  };
  return {
    async put(data) {
      await mkdir(join(root, 'tmp'), { recursive: true });
      const tmp = join(root, 'tmp', `${randomBytes(8).toString('hex')}.part`);
      const hash = createHash('sha256');
      let size = 0;
      const fh = await open(tmp, 'w');
      try {
        const chunks: AsyncIterable<Uint8Array> | Uint8Array[] = data instanceof Uint8Array ? [data] : data;
        for await (const chunk of chunks) {
          hash.update(chunk);
          size += chunk.byteLength;
          await fh.write(chunk);
        }
        await fh.sync();
      } catch (e) {
        await fh.close().catch(() => undefined);
        await rm(tmp, { force: true });
        throw e;
      }
      await fh.close();
      const sha256 = hash.digest('hex');
      if (await statOf(sha256)) {
        await rm(tmp, { force: true });
      } else {
        await mkdir(join(root, 'sha256', sha256.slice(0, 2)), { recursive: true });
        await rename(tmp, pathOf(sha256));
      }
      return { sha256, sizeBytes: size };
    },
    async get(sha256) {
      const bytes = await readFile(pathOf(checkedSha(sha256))).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return null;
        throw e;
      });
      return bytes ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : null;
    },
    async read(sha256, range) {
      const s = await statOf(sha256);
      if (!s) throw new EdgekdError('EDGEKD_NOT_FOUND', `no artifact ${sha256}`);
      const start = range?.start ?? 0;
      const end = range?.end ?? s.sizeBytes;
      if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > s.sizeBytes || start > end) {
        throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `range ${start}-${end} is outside artifact ${sha256} (${s.sizeBytes} bytes)`);
      }
      if (start === end) {
        const { Readable } = await import('node:stream');
        return Readable.from([]);
      }
      return createReadStream(pathOf(sha256), { start, end: end - 1 }) as Readable;
    },
    stat: statOf,
    async *list() {
      const top = await readdir(join(root, 'sha256')).catch(() => [] as string[]);
      for (const dir of top.sort()) {
        for (const name of (await readdir(join(root, 'sha256', dir)).catch(() => [] as string[])).sort()) {
          if (!HEX.test(name)) continue;
          const ref = await statOf(name);
          if (ref) yield ref;
        }
      }
    },
  };
}
