import { readFileSync } from 'node:fs';
import { EdgekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log/logger';
import type { BrokerAccess } from '../fleet/registry/broker-access';
import { hashPassword } from '../fleet/registry/credentials';
import { writeMosquittoAuthFiles, type BrokerAccount } from './mosquitto-files';

export interface MosquittoAccessOptions {
  readonly passwordFile: string;
  readonly aclFile: string;
  /** Mosquitto's `pid_file`: the process told to reload (SIGHUP) after the files change. */
  readonly pidFile: string;
  /** The cloud's own account (its password is hashed here; the plaintext is never written). */
  readonly service: { username: string; password: string };
  /** Every device that may connect, with its stored hash (the registry's view). */
  readonly accounts: () => Promise<BrokerAccount[]>;
  /** Injected for tests; default process.kill. */
  readonly signal?: (pid: number, signal: NodeJS.Signals) => void;
  readonly logger?: Logger;
}

export interface MosquittoAccess extends BrokerAccess {
  /** Writes both files from the registry and asks Mosquitto to reload (when `reload`); used at start. */
  sync(o?: { reload?: boolean }): Promise<void>;
}

/**
 * Mosquitto follows the registry through its own files: the password file and the ACL are
 * regenerated whole from the registry after every change, then Mosquitto reloads them on SIGHUP.
 * On reload Mosquitto 2.0 checks every connected client again, so the session of a revoked device
 * (no longer in the file) or of a rotated one (old password) is closed at once; other devices stay
 * connected. The operator never edits either file (docs/decisions.md says why files over the
 * dynamic-security plugin).
 */
export function createMosquittoAccess(o: MosquittoAccessOptions): MosquittoAccess {
  const serviceHash = hashPassword(o.service.password);
  const signal = o.signal ?? ((pid: number, sig: NodeJS.Signals) => void process.kill(pid, sig));
  let chain: Promise<void> = Promise.resolve();

  const reload = (): void => {
    let pid: number;
    try {
      pid = Number.parseInt(readFileSync(o.pidFile, 'utf8').trim(), 10);
    } catch (e) {
      throw new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', `cannot read Mosquitto's pid file ${o.pidFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    if (!Number.isInteger(pid) || pid <= 1) throw new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', `Mosquitto's pid file ${o.pidFile} holds no process id`);
    try {
      signal(pid, 'SIGHUP');
    } catch (e) {
      throw new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', `cannot signal Mosquitto (pid ${pid}) to reload: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
  };

  const write = async (doReload: boolean): Promise<void> => {
    const accounts = [{ username: o.service.username, passwordHash: serviceHash }, ...(await o.accounts()).filter((a) => a.username !== o.service.username)];
    writeMosquittoAuthFiles({ passwordFile: o.passwordFile, aclFile: o.aclFile, serviceUser: o.service.username, accounts });
    if (doReload) reload();
  };

  // One rewrite at a time, in call order: two changes in quick succession never interleave writes.
  const serial = (f: () => Promise<void>): Promise<void> => {
    const next = chain.then(f, f);
    chain = next.catch(() => undefined);
    return next;
  };

  return {
    sync: (s = {}) => serial(() => write(s.reload ?? true)),
    deviceChanged: (change) =>
      serial(async () => {
        await write(true);
        o.logger?.info({ deviceId: change.deviceId, kind: change.kind }, 'Mosquitto password file and ACL rewritten and reloaded');
      }),
  };
}
