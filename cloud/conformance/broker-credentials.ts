import { EdgekdError } from '../../shared/errors';

/**
 * Splits `mqtt://user:secret@host:port` into a URL without user info and the credentials, so the
 * secret never appears in a URL that gets logged. Explicit flags win over the URL's user info.
 */
export function brokerCredentials(url: string, explicit: { username?: string; password?: string } = {}): { url: string; username?: string; password?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--broker '${url}' is not a URL`, { cause: e });
  }
  if (!['mqtt:', 'mqtts:', 'tcp:', 'ws:', 'wss:'].includes(u.protocol)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--broker must be an mqtt:// or mqtts:// URL, got ${u.protocol}`);
  const username = explicit.username ?? (u.username ? decodeURIComponent(u.username) : undefined);
  const password = explicit.password ?? (u.password ? decodeURIComponent(u.password) : undefined);
  u.username = '';
  u.password = '';
  const out: { url: string; username?: string; password?: string } = { url: u.toString().replace(/\/$/, '') };
  if (username !== undefined) out.username = username;
  if (password !== undefined) out.password = password;
  return out;
}
