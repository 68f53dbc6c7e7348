import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writePackageDir } from '../../shared/package/package-dir';
import { sizedPackage } from '../../test/fleet/helpers/sized-package';
import { putTree } from '../scale/artifact-tree';
import { createFsArtifactStore } from '../scale/fs-artifact-store';
import { checkpointEvent, localFolder, readExportedPackage, restoreCheckpoint } from './job-artifacts';

const root = mkdtempSync(join(tmpdir(), 'edgekd-job-artifacts-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const store = createFsArtifactStore(join(root, 'shared'));

describe('job outputs across machines', () => {
  it('uses a folder this machine has, and restores one made on another machine from the artifact store', async () => {
    const made = join(root, 'machine-a', 'student');
    mkdirSync(made, { recursive: true });
    writeFileSync(join(made, 'model.json'), '{"w":1}');
    const ref = await putTree(store, made);
    expect(await localFolder(made, ref.sha256, store, join(root, 'unused'))).toBe(made);
    const elsewhere = await localFolder(join(root, 'not-here', 'student'), ref.sha256, store, join(root, 'machine-b', 'warm-start'));
    expect(elsewhere).toBe(join(root, 'machine-b', 'warm-start'));
    expect(readFileSync(join(elsewhere, 'model.json'), 'utf8')).toBe('{"w":1}');
  });

  it('registers an exported package from its artifact when the export ran on another machine', async () => {
    const { pkg } = sizedPackage({ targetBytes: 20_000, name: 'remote' });
    const dir = join(root, 'worker', 'package');
    await writePackageDir(dir, pkg);
    const packageArtifact = (await putTree(store, dir)).sha256;
    rmSync(dir, { recursive: true, force: true }); // the fleet process does not see the worker's folder
    const result = { packageDir: dir, packageArtifact, name: 'remote', version: 1, sha256: pkg.manifest.model.sha256, bytes: pkg.model.byteLength, metrics: {}, runId: null, seconds: 1 };
    const read = await readExportedPackage(result, store);
    expect(Buffer.from(read.model).equals(Buffer.from(pkg.model))).toBe(true);
    expect(read.manifest).toEqual(pkg.manifest);
    await expect(readExportedPackage(result, undefined)).rejects.toBeDefined();
  });
});

describe('checkpoint uploads', () => {
  it('read the folder when announced, so the writer may replace it before the upload finishes', async () => {
    const work = join(root, 'job');
    const folder = join(work, 'checkpoint', 'epoch-1');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'buffer.bin'), 'epoch one');
    const pending = checkpointEvent(store, work, 'checkpoint', 0);
    // The next epoch's checkpoint deletes this one (cloud/distill/checkpoint.ts) while the upload runs.
    rmSync(join(work, 'checkpoint'), { recursive: true, force: true });
    const event = await pending;
    expect(event).toMatchObject({ type: 'checkpoint', epoch: 0, path: 'checkpoint' });
    const restored = join(root, 'resumed');
    expect(await restoreCheckpoint(store, restored, event)).toBe(true);
    expect(readFileSync(join(restored, 'checkpoint', 'epoch-1', 'buffer.bin'), 'utf8')).toBe('epoch one');
  });
});
