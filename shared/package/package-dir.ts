import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { EdgekdError } from '../errors';
import { parseJson } from '../contracts/parse';
import type { ModelPackage } from './build-package';
import type { PackageContents } from './verify-package';

/**
 * On-disk layout of a package directory:
 *   model.onnx      the model bytes
 *   manifest.json   the manifest (any JSON formatting; the signature covers its canonical form)
 *   manifest.sig    JSON signature document {algorithm, keyId, signature, signedSha256}
 */
export const PACKAGE_FILES = { model: 'model.onnx', manifest: 'manifest.json', signature: 'manifest.sig' } as const;

/** Writes the directory atomically: a sibling temp directory renamed into place. */
export async function writePackageDir(dir: string, pkg: ModelPackage): Promise<void> {
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}-${Date.now()}`);
  await mkdir(tmp, { recursive: true });
  try {
    await writeFile(join(tmp, PACKAGE_FILES.model), pkg.model);
    await writeFile(join(tmp, PACKAGE_FILES.manifest), JSON.stringify(pkg.manifest, null, 2) + '\n');
    await writeFile(join(tmp, PACKAGE_FILES.signature), JSON.stringify(pkg.signature, null, 2) + '\n');
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

async function readRequired(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new EdgekdError('EDGEKD_PACKAGE_INVALID', `package file ${path} cannot be read (${code ?? (e as Error).message})`, { cause: e });
  }
}

/** Reads the three files without judging them; pass the result to verifyPackage. */
export async function readPackageDir(dir: string): Promise<PackageContents> {
  const [model, manifest, signature] = await Promise.all([
    readRequired(join(dir, PACKAGE_FILES.model)),
    readRequired(join(dir, PACKAGE_FILES.manifest)),
    readRequired(join(dir, PACKAGE_FILES.signature)),
  ]);
  return {
    model: new Uint8Array(model.buffer, model.byteOffset, model.byteLength),
    manifest: parseJson(manifest, `${dir}/${PACKAGE_FILES.manifest}`, 'EDGEKD_PACKAGE_INVALID'),
    signature: parseJson(signature, `${dir}/${PACKAGE_FILES.signature}`, 'EDGEKD_PACKAGE_INVALID'),
  };
}
