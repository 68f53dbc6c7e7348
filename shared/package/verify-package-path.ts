import { readFileSync, statSync } from 'node:fs';
import { EdgekdError } from '../errors';
import { readPackageDir } from './package-dir';
import { decodePackageFile } from './package-file';
import type { TrustedKeys } from './trusted-keys';
import { verifyPackage, type PackageContents, type PackageVerification } from './verify-package';

/**
 * Reads a package from disk, a directory (model.onnx, manifest.json, manifest.sig) or a single
 * `.ekpkg` file, and runs every check of `verifyPackage` on it (`edgekd package verify`). A path
 * that does not exist or a package that cannot be read is EDGEKD_PACKAGE_INVALID (thrown); a
 * package that reads but fails a check is a `{ ok: false, … }` result with all checks listed.
 */
export async function verifyPackagePath(path: string, trusted: TrustedKeys, options: { now?: Date } = {}): Promise<PackageVerification> {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new EdgekdError('EDGEKD_PACKAGE_INVALID', `${path} does not exist`, { cause: e });
  }
  const contents: PackageContents = isDir ? await readPackageDir(path) : decodePackageFile(new Uint8Array(readFileSync(path)));
  return verifyPackage(contents, trusted, options);
}
