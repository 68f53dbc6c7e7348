import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportStudent } from '../cloud/export/export-student';
import { generateKeys } from '../cloud/signing/generate-keys';
import { parseJson } from '../shared/contracts/parse';
import { assertPackageValid, parseSigningKeyFile, parseTrustedKeys, readPackageDir, signingKeyFromFile, type ModelManifest, type SigningKey, type TrustedKeys } from '../shared/package';

export interface DeployedPackage {
  dir: string;
  manifest: ModelManifest;
  key: SigningKey;
  trusted: TrustedKeys;
}

/**
 * The benchmark's deployed model from an `edgekd distill` output folder, made the way an operator
 * makes it: a signing key (`generateKeys`, what `edgekd keys generate` runs) and `edgekd export` (int8, calibrated on the replay buffer's
 * synthetic samples, teacher probe and drift reference, signed: `exportStudent`, what `edgekd export` runs), in-process. Evaluation on the
 * test split is skipped here: the benchmark measures accuracy itself on its own evaluation pool.
 */
export async function deployStudentPackage(o: { studentDir: string; teacherDir: string; workDir: string }): Promise<DeployedPackage> {
  const keyDir = join(o.workDir, 'keys');
  const { keyFile, trustedKeysFile: trustedPath } = generateKeys({ dir: keyDir });
  const dir = join(o.workDir, 'deployed-v1');
  const key = signingKeyFromFile(parseSigningKeyFile.parse(parseJson(readFileSync(keyFile), keyFile, 'EDGEKD_INVALID_ARGUMENT')));
  await exportStudent({ studentDir: o.studentDir, out: dir, key, teacherDir: o.teacherDir, evaluate: false, version: 1, layerSketches: true });
  const trusted = parseTrustedKeys(parseJson(readFileSync(trustedPath), trustedPath, 'EDGEKD_CONFIG_INVALID'));
  // What an agent does before installing: the signature and hashes must check out.
  const manifest = assertPackageValid(await readPackageDir(dir), trusted);
  return { dir, manifest, key, trusted };
}
