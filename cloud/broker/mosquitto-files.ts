import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { EdgekdError } from '../../shared/errors';
import { isMosquittoHash } from '../fleet/registry/credentials';
import { mosquittoAclText } from './device-acl';

/** One line of Mosquitto's password file: a username and a stored `$6$` hash (never a password). */
export interface BrokerAccount {
  readonly username: string;
  readonly passwordHash: string;
}

/**
 * Mosquitto's password file for these accounts. Usernames are device ids (no `:` or line breaks by
 * the id rule) or the cloud's account; a hash Mosquitto cannot read is a typed error rather than a
 * line that would silently lock the device out.
 */
export function mosquittoPasswordFileText(accounts: readonly BrokerAccount[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const a of accounts) {
    if (!/^[^:\s]+$/.test(a.username)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `'${a.username}' cannot be a Mosquitto username`);
    if (!isMosquittoHash(a.passwordHash)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `the stored credentials of '${a.username}' predate Mosquitto-format hashes; rotate them`);
    if (seen.has(a.username)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `'${a.username}' appears twice`);
    seen.add(a.username);
    lines.push(`${a.username}:${a.passwordHash}`);
  }
  return lines.join('\n') + '\n';
}

/** Writes a file whole or not at all (a reader never sees half a password file), mode 0600. */
function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Writes the password file and the ACL (cloud/broker/device-acl.ts) Mosquitto reads on start and on SIGHUP. */
export function writeMosquittoAuthFiles(o: { passwordFile: string; aclFile: string; serviceUser: string; accounts: readonly BrokerAccount[] }): void {
  writeAtomically(o.passwordFile, mosquittoPasswordFileText(o.accounts));
  writeAtomically(o.aclFile, mosquittoAclText(o.serviceUser));
}
