import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseJson } from '../../shared/contracts/parse';

/**
 * Crash-safe replace of a small file: write a sibling temp file, fsync it, rename it over the
 * target, fsync the directory. After a crash at any instant the target holds either the old or
 * the new content, never a mix (POSIX rename is atomic within one file system).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fsyncDir(dirname(path));
}

export async function fsyncDir(dir: string): Promise<void> {
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    await dh.close();
  }
}

/** Reads and JSON-parses a file; `undefined` when it does not exist. */
export async function readJsonIfExists(path: string, what: string): Promise<unknown | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parseJson(text, what);
}
