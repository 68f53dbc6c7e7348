import { readFileSync } from 'node:fs';
import { parseJson } from '../contracts/parse';
import { EdgekdError } from '../errors';
import { parseSigningKeyFile, signingKeyFromFile, type SigningKey } from './keys';
import { parseTrustedKeys, type TrustedKeys } from './trusted-keys';

function readOrNotFound(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new EdgekdError('EDGEKD_NOT_FOUND', `${what} ${path} cannot be read`, { cause: e });
  }
}

/** A `signing-key.json` (edgekd keys generate) as a key: EDGEKD_NOT_FOUND, or EDGEKD_INVALID_ARGUMENT when it is not one. */
export function readSigningKeyFile(path: string): SigningKey {
  return signingKeyFromFile(parseSigningKeyFile.parse(parseJson(readOrNotFound(path, 'signing key'), path, 'EDGEKD_INVALID_ARGUMENT')));
}

/** A trusted-keys list file: EDGEKD_NOT_FOUND, or EDGEKD_CONFIG_INVALID when it does not parse. */
export function readTrustedKeysFile(path: string): TrustedKeys {
  return parseTrustedKeys(parseJson(readOrNotFound(path, 'trusted-keys list'), path, 'EDGEKD_CONFIG_INVALID'));
}
