import { isAbsolute, join, normalize } from 'node:path';
import type { ArtifactStore } from '../scale/artifact-store';
import { createFsArtifactStore } from '../scale/fs-artifact-store';
import { getTree, putSnapshot, snapshotTree } from '../scale/artifact-tree';
import type { PackageContents } from '../../shared/package/verify-package';
import type { JobResult } from './job-kinds';

/** Environment variable through which a job's child process learns the artifact store's folder. */
export const ARTIFACTS_ENV = 'EDGEKD_ARTIFACTS';

/** The artifact store the cloud shares with its job children, or null when it gave none. */
export function jobArtifactStore(env: NodeJS.ProcessEnv = process.env): ArtifactStore | null {
  const dir = env[ARTIFACTS_ENV];
  return dir ? createFsArtifactStore(dir) : null;
}

/**
 * The event a handler emits after it wrote a checkpoint folder `path` (relative to its work dir)
 * and put it in the artifact store. The runner that resumes the job on another machine, whose
 * work dir lacks that folder, restores the last one announced (restoreCheckpoint).
 */
export type CheckpointEvent = {
  readonly type: 'checkpoint';
  readonly epoch: number;
  readonly path: string;
  readonly artifact: string;
};

/**
 * Puts a checkpoint folder and returns the event that announces it. The folder is read when this
 * is called, synchronously; only the upload is asynchronous. A distillation writes its next
 * checkpoint and deletes this one while it trains, and an upload that read files lazily (only at
 * the loop's yields, every synthesis round) was overtaken on slow CIFAR-10 epochs (ENOENT).
 */
export function checkpointEvent(store: ArtifactStore, workDir: string, path: string, epoch: number): Promise<CheckpointEvent> {
  const snapshot = snapshotTree(join(workDir, path));
  return putSnapshot(store, snapshot).then((ref) => ({ type: 'checkpoint' as const, epoch, path, artifact: ref.sha256 }));
}

/**
 * Restores the checkpoint a stored event announced into `workDir` (a resumed job on a runner
 * that may not have its previous work dir). Events of another shape are ignored; a path leaving
 * the work dir is never written.
 */
export async function restoreCheckpoint(store: ArtifactStore, workDir: string, event: Record<string, unknown>): Promise<boolean> {
  const { path, artifact } = event;
  if (typeof path !== 'string' || typeof artifact !== 'string') return false;
  const rel = normalize(path);
  if (isAbsolute(rel) || rel.startsWith('..')) return false;
  await getTree(store, artifact, join(workDir, rel));
  return true;
}

/**
 * The package an export job wrote: its folder when this machine sees it, else restored from the
 * artifact store into a temporary folder (the export ran on a worker on another machine).
 */
export async function readExportedPackage(r: JobResult<'export'>, artifacts: ArtifactStore | undefined): Promise<PackageContents> {
  const { readPackageDir } = await import('../../shared/package/package-dir');
  const { existsSync } = await import('node:fs');
  if (existsSync(r.packageDir) || !r.packageArtifact || !artifacts) return readPackageDir(r.packageDir);
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'edgekd-package-'));
  try {
    await getTree(artifacts, r.packageArtifact, dir);
    return await readPackageDir(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A folder a job needs (a warm start, a parent package): `dir` when this machine has it, else
 * the artifact tree restored under `into` (the folder was made on another machine).
 */
export async function localFolder(dir: string, artifact: string | undefined, artifacts: ArtifactStore | null, into: string): Promise<string> {
  const { existsSync } = await import('node:fs');
  if (existsSync(dir) || !artifact || !artifacts) return dir;
  await getTree(artifacts, artifact, into);
  return into;
}
