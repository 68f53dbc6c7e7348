import { EdgekdError } from '../../shared/errors';

/**
 * Names that become files or folders on the cloud host (uploaded teacher files, teacher ids):
 * a letter or digit first, then letters, digits, `_`, `-` and single dots, at most 128 characters.
 * So no `.`, `..`, hidden files, separators of any platform, or NUL can reach `path.join`.
 * The same pattern is in the API schema (a 400 before the handler) and checked again here for
 * callers that do not come through the API.
 */
export const UPLOAD_NAME_PATTERN = '^[A-Za-z0-9](?:[A-Za-z0-9_-]|\\.(?!\\.)){0,127}$';
const NAME = new RegExp(UPLOAD_NAME_PATTERN);

export function checkUploadName(kind: string, name: string): string {
  if (!NAME.test(name)) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `${kind} '${name.slice(0, 40)}' is not allowed: use letters, digits, '_', '-' and single dots, starting with a letter or digit (at most 128)`);
  }
  return name;
}
