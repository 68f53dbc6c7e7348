import { open, type FileHandle } from 'node:fs/promises';
import { fsyncDir } from './atomic-file';

/**
 * fsync of a file another writer (SQLite) owns, through a descriptor of our own: on Linux the
 * flush covers the inode's dirty pages whoever wrote them. It runs on libuv's thread pool, so the
 * event loop (shared by every simulated agent of a process) never waits on the disk. The
 * descriptor stays open between syncs (one syscall per sync, not three); the directory is synced
 * once, so the file's creation itself is durable too.
 */
export interface FileSyncer {
  sync(): Promise<void>;
  close(): Promise<void>;
}

export function createFileSyncer(path: string, dir: string): FileSyncer {
  let fh: FileHandle | null = null;
  let dirSynced = false;
  let closed = false;
  return {
    async sync() {
      if (closed) return;
      if (!fh) {
        try {
          fh = await open(path, 'r');
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // not created yet: nothing to flush
          throw e;
        }
        if (closed) return void (await fh.close());
      }
      await fh.sync();
      if (!dirSynced) {
        await fsyncDir(dir);
        dirSynced = true;
      }
    },
    async close() {
      closed = true;
      const h = fh;
      fh = null;
      await h?.close();
    },
  };
}
