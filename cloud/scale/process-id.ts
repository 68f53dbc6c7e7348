import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { EdgekdError } from '../../shared/errors';

/** Letters, digits, `.`, `_`, `-`; it ends up in an MQTT client id and in job rows. */
const VALID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function parseProcessId(raw: string, source: string): string {
  const id = raw.trim();
  if (!VALID.test(id)) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `${source} must be 1-63 letters, digits, '.', '_' or '-' starting with a letter or digit, got '${raw}'`);
  }
  return id;
}

export function generateProcessId(random: () => string = () => randomBytes(4).toString('hex')): string {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 40) || 'cloud';
  return `${host}-${random()}`;
}

/**
 * The id of this cloud process: its job-runner lease owner and its MQTT client id suffix.
 *
 * Order: the explicit option (`--process-id`), then `EDGEKD_PROCESS_ID`, then a default. On
 * SQLite (one process per file) the default is kept in `<dataDir>/process-id` so a restarted cloud
 * is the same owner and takes its running jobs back at once. On PostgreSQL several processes may
 * share a data folder, so each start gets a fresh id (`<hostname>-<8 hex>`); jobs of a process
 * that died come back after their lease lapses.
 */
export function resolveProcessId(opts: { explicit?: string; env?: NodeJS.ProcessEnv; dataDir: string; sharedStore: boolean }): string {
  if (opts.explicit !== undefined) return parseProcessId(opts.explicit, '--process-id');
  const fromEnv = (opts.env ?? process.env).EDGEKD_PROCESS_ID;
  if (fromEnv) return parseProcessId(fromEnv, 'EDGEKD_PROCESS_ID');
  if (opts.sharedStore) return generateProcessId();
  const file = join(opts.dataDir, 'process-id');
  if (existsSync(file)) return parseProcessId(readFileSync(file, 'utf8'), file);
  const id = generateProcessId();
  writeFileSync(file, `${id}\n`);
  return id;
}
