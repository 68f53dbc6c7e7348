import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFsArtifactStore } from './fs-artifact-store';
import { getTree, putTree } from './artifact-tree';

const root = mkdtempSync(join(tmpdir(), 'edgekd-tree-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('folders as artifacts', () => {
  const store = createFsArtifactStore(join(root, 'store'));

  it('puts a folder with sub-folders and restores it byte for byte elsewhere', async () => {
    const src = join(root, 'student');
    mkdirSync(join(src, 'weights'), { recursive: true });
    writeFileSync(join(src, 'model.json'), '{"a":1}');
    writeFileSync(join(src, 'weights', 'w.bin'), Buffer.alloc(10_000, 3));
    writeFileSync(join(src, 'buffer.json'), '[]');
    const ref = await putTree(store, src);
    // Same content, same address: a second put names the same folder.
    expect((await putTree(store, src)).sha256).toBe(ref.sha256);
    const dst = join(root, 'restored');
    await getTree(store, ref.sha256, dst);
    expect(readFileSync(join(dst, 'model.json'), 'utf8')).toBe('{"a":1}');
    expect(readFileSync(join(dst, 'weights', 'w.bin')).equals(Buffer.alloc(10_000, 3))).toBe(true);
    expect(readFileSync(join(dst, 'buffer.json'), 'utf8')).toBe('[]');
  });

  it('refuses an index that names a path outside the folder, and a file that does not match its address', async () => {
    const file = await store.put(Buffer.from('x'));
    const escape = await store.put(Buffer.from(JSON.stringify({ schema: 'edgekd.artifact-tree/1', files: [{ path: '../../evil', sha256: file.sha256, sizeBytes: 1 }] })));
    await expect(getTree(store, escape.sha256, join(root, 'e1'))).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
    const lying = await store.put(Buffer.from(JSON.stringify({ schema: 'edgekd.artifact-tree/1', files: [{ path: 'f', sha256: 'f'.repeat(64), sizeBytes: 1 }] })));
    await expect(getTree(store, lying.sha256, join(root, 'e2'))).rejects.toMatchObject({ code: 'EDGEKD_HASH_MISMATCH' });
    await expect(getTree(store, 'a'.repeat(64), join(root, 'e3'))).rejects.toMatchObject({ code: 'EDGEKD_NOT_FOUND' });
  });
});
