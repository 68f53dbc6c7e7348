import { readFileSync } from 'node:fs';
import { EdgekdError } from '../../shared/errors';

/** How the cloud reaches an external broker: the URL without credentials, the account, TLS material. */
export interface BrokerTarget {
  /** mqtt:// or mqtts:// without user info: safe to print and log. */
  readonly url: string;
  readonly username?: string;
  /** Never printed or logged. */
  readonly password?: string;
  readonly tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer };
}

export interface BrokerTargetInput {
  readonly url: string;
  /** --broker-user (else the URL's user). */
  readonly username?: string;
  /** --broker-password-file: a file holding the secret (one line). */
  readonly passwordFile?: string;
  /** EDGEKD_BROKER_PASSWORD. */
  readonly envPassword?: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly readFile?: (path: string) => Buffer;
}

const bad = (m: string): EdgekdError => new EdgekdError('EDGEKD_INVALID_ARGUMENT', m);

/**
 * Parses `--broker` and its companions. The secret comes from exactly one place (URL user info,
 * a file, or the environment); the URL given back has it removed, so whatever prints or logs the
 * broker address cannot leak it. A client certificate needs its key and vice versa.
 */
export function parseBrokerTarget(i: BrokerTargetInput): BrokerTarget {
  let u: URL;
  try {
    u = new URL(i.url);
  } catch {
    throw bad(`--broker must be a URL such as mqtt://host:1883 or mqtts://host:8883, got '${redact(i.url)}'`);
  }
  if (!['mqtt:', 'mqtts:'].includes(u.protocol)) throw bad(`--broker must use mqtt:// or mqtts://, got ${u.protocol}//`);
  if (u.pathname !== '' && u.pathname !== '/') throw bad('--broker takes no path');
  const urlUser = u.username ? decodeURIComponent(u.username) : undefined;
  const urlPassword = u.password ? decodeURIComponent(u.password) : undefined;
  const read = i.readFile ?? ((p: string) => readFileSync(p));
  const sources = [urlPassword !== undefined, i.passwordFile !== undefined, i.envPassword !== undefined && i.envPassword !== ''].filter(Boolean).length;
  if (sources > 1) throw bad('give the broker password once: in the URL, with --broker-password-file, or in EDGEKD_BROKER_PASSWORD');
  if (i.username !== undefined && urlUser !== undefined && i.username !== urlUser) throw bad('--broker-user differs from the user in --broker');
  const readText = (p: string, what: string): Buffer => {
    try {
      return read(p);
    } catch (e) {
      throw bad(`cannot read ${what} ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const password = urlPassword ?? (i.passwordFile !== undefined ? readText(i.passwordFile, 'the broker password file').toString('utf8').replace(/\r?\n$/, '') : i.envPassword || undefined);
  const username = i.username ?? urlUser;
  if (password !== undefined && password.length === 0) throw bad('the broker password is empty');
  if (password !== undefined && username === undefined) throw bad('a broker password needs a user (--broker-user or mqtt://USER@host)');
  if ((i.certFile === undefined) !== (i.keyFile === undefined)) throw bad('--broker-cert and --broker-key go together');
  const tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  if (i.caFile !== undefined) tls.ca = readText(i.caFile, 'the CA file');
  if (i.certFile !== undefined) tls.cert = readText(i.certFile, 'the client certificate');
  if (i.keyFile !== undefined) tls.key = readText(i.keyFile, 'the client key');
  const hasTls = Object.keys(tls).length > 0;
  if (hasTls && u.protocol !== 'mqtts:') throw bad('TLS options need an mqtts:// broker URL');
  u.username = '';
  u.password = '';
  return {
    url: `${u.protocol}//${u.host}`,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(hasTls ? { tls } : {}),
  };
}

/** A URL as it may be shown: user info replaced. */
export function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
