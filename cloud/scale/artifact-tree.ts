import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';
import { Type } from 'typebox';
import { createParser, parseJson } from '../../shared/contracts/parse';
import { EdgekdError } from '../../shared/errors';
import type { ArtifactRef, ArtifactStore } from './artifact-store';

/**
 * A folder (a student, a package, a checkpoint) as artifacts: each file is one artifact, and an
 * index artifact lists `{path, sha256, sizeBytes}` per file. The index's address names the whole
 * folder, so a job result can carry it to a process on another machine.
 */
const TreeIndex = Type.Object({
  schema: Type.Literal('edgekd.artifact-tree/1'),
  files: Type.Array(Type.Object({ path: Type.String({ minLength: 1, maxLength: 1024 }), sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }), sizeBytes: Type.Integer({ minimum: 0 }) }), { maxItems: 100_000 }),
});
const parseIndex = createParser(TreeIndex, 'artifact tree index', 'EDGEKD_INVALID_ARGUMENT');

async function filesUnder(dir: string, base = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p, base)));
    else if (e.isFile()) out.push(relative(base, p).split(sep).join('/'));
  }
  return out;
}

/** Puts every regular file under `dir` and an index of them; returns the index's address. */
export async function putTree(store: ArtifactStore, dir: string): Promise<ArtifactRef> {
  const files = [];
  for (const path of await filesUnder(dir)) files.push({ path, bytes: await readFile(join(dir, path)) });
  return putSnapshot(store, files);
}

/** A folder's files as read at one moment: `path` relative to the folder, `/`-separated. */
export type TreeSnapshot = ReadonlyArray<{ readonly path: string; readonly bytes: Uint8Array }>;

/**
 * Every regular file under `dir`, read now and synchronously: a consistent copy of a folder its
 * writer replaces at its next step (a checkpoint), which an asynchronous read could find half gone.
 */
export function snapshotTree(dir: string): TreeSnapshot {
  const out: Array<{ path: string; bytes: Uint8Array }> = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push({ path: relative(dir, p).split(sep).join('/'), bytes: readFileSync(p) });
    }
  };
  walk(dir);
  return out;
}

/** Puts a snapshot's files and their index; returns the index's address (as putTree). */
export async function putSnapshot(store: ArtifactStore, snapshot: TreeSnapshot): Promise<ArtifactRef> {
  const files = [];
  for (const f of snapshot) {
    const ref = await store.put(f.bytes);
    files.push({ path: f.path, sha256: ref.sha256, sizeBytes: ref.sizeBytes });
  }
  return store.put(Buffer.from(JSON.stringify({ schema: 'edgekd.artifact-tree/1', files })));
}

/**
 * Writes the folder named by an index address into `dir` (created; files already there with the
 * same names are replaced). Each file is checked against its address before it is renamed into
 * place, and a path that would leave `dir` is refused (EDGEKD_INVALID_ARGUMENT), so a store that is
 * not trusted (a bucket others write to) can neither corrupt nor escape the folder.
 */
export async function getTree(store: ArtifactStore, indexSha256: string, dir: string): Promise<void> {
  const raw = await store.get(indexSha256);
  if (!raw) throw new EdgekdError('EDGEKD_NOT_FOUND', `no artifact tree ${indexSha256} in the artifact store`);
  const index = parseIndex.parse(parseJson(raw, 'artifact tree index', 'EDGEKD_INVALID_ARGUMENT'));
  for (const f of index.files) {
    const rel = normalize(f.path);
    if (isAbsolute(rel) || rel.startsWith('..') || rel.includes('\0')) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `artifact tree ${indexSha256} names a path outside its folder: ${f.path.slice(0, 200)}`);
  }
  await mkdir(dir, { recursive: true });
  for (const f of index.files) {
    const bytes = await store.get(f.sha256);
    if (!bytes || createHash('sha256').update(bytes).digest('hex') !== f.sha256) {
      throw new EdgekdError('EDGEKD_HASH_MISMATCH', `artifact ${f.sha256} (${f.path}) of tree ${indexSha256} is missing or does not match its address`);
    }
    const target = join(dir, normalize(f.path));
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.${randomBytes(4).toString('hex')}.part`;
    try {
      await writeFile(tmp, bytes);
      await rename(tmp, target);
    } finally {
      await rm(tmp, { force: true });
    }
  }
}
