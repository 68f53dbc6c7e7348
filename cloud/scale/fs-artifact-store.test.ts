import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFsArtifactStore } from './fs-artifact-store';

const root = mkdtempSync(join(tmpdir(), 'edgekd-artifacts-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
async function collect(r: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(parts);
}

describe('filesystem artifact store', () => {
  const bytes = new Uint8Array(200_000).map((_, i) => (i * 31) % 251);

  it('stores bytes under their SHA-256 and reads them back whole and by range', async () => {
    const store = createFsArtifactStore(root);
    const ref = await store.put(bytes);
    expect(ref).toEqual({ sha256: sha(bytes), sizeBytes: bytes.length });
    expect(Buffer.from((await store.get(ref.sha256))!).equals(Buffer.from(bytes))).toBe(true);
    expect((await collect(await store.read(ref.sha256, { start: 1000, end: 1010 }))).equals(Buffer.from(bytes.subarray(1000, 1010)))).toBe(true);
    expect((await collect(await store.read(ref.sha256, { start: 199_990 }))).length).toBe(10);
  });

  it('is idempotent across handles (two processes on one shared path) and for streamed input', async () => {
    const a = createFsArtifactStore(root);
    const b = createFsArtifactStore(root);
    async function* chunks(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < bytes.length; i += 65_536) yield bytes.subarray(i, i + 65_536);
    }
    const [r1, r2] = await Promise.all([a.put(bytes), b.put(chunks())]);
    expect(r1).toEqual(r2);
    const listed: string[] = [];
    for await (const r of b.list()) listed.push(r.sha256);
    expect(listed).toEqual([sha(bytes)]);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]); // no partial files left behind
  });

  it('answers absent artifacts, bad addresses and bad ranges with typed errors or null', async () => {
    const store = createFsArtifactStore(root);
    expect(await store.get('0'.repeat(64))).toBeNull();
    await expect(store.read('0'.repeat(64))).rejects.toMatchObject({ code: 'EDGEKD_NOT_FOUND' });
    await expect(store.get('../../etc/passwd')).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
    await expect(store.read(sha(bytes), { start: 10, end: bytes.length + 1 })).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
  });
});
