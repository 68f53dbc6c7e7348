import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCommandArgs } from '../../shared/cli/args';
import { EdgekdError } from '../../shared/errors';
import type { DeviceAdmin, DeviceSummary } from '../fleet/registry/device-admin';
import { openDeviceAdmin, type DeviceAdminTarget, type MosquittoSync } from '../api/open-device-admin';

const HELP = `usage: edgekd devices <add|list|revoke|rotate> [DEVICE-ID] [options]

Provisions the devices of a cloud. Credentials are printed once; only a salted hash is stored.

  add ID [--group G]... [--tag T]...   a new device and its MQTT credentials
  list                                 devices with groups, tags and state (never a secret)
  revoke ID                            refuse the device from now on (its session ends)
  rotate ID                            new credentials; the old ones stop working

where (one of):
  --api URL      a running cloud, e.g. http://127.0.0.1:8080, with an admin token in
                 EDGEKD_API_TOKEN (never a flag: flags show in ps and shell history).
                 Ends a revoked or rotated device's live session at once.
  --data DIR     the cloud's state folder, opened directly               [.edgekd/cloud]
  --db URL       sqlite:PATH or postgres://user@host/db                  [sqlite:DIR/cloud.db]
                 For first setup or a stopped cloud: a running cloud refuses old or revoked
                 credentials from the device's next connect.
Mosquitto (with --data/--db): after each change the password file and the ACL are regenerated
from the registry and Mosquitto reloads them (SIGHUP to the pid in its pid file; when that file
does not exist, Mosquitto is not running and reads the files when it starts), so a revoked or
rotated device's session ends and nobody edits an ACL by hand. The cloud's own account goes into
the same file, so its user and password are needed (as for \`edgekd cloud --broker\`):
  --mosquitto-passwd FILE  --mosquitto-acl FILE  --mosquitto-pid FILE   (all three together)
  --broker-user USER       the cloud's MQTT user
  --broker-password-file FILE   its password (or EDGEKD_BROKER_PASSWORD); never printed
options:
  --json         machine-readable output`;

const ACTIONS = ['add', 'list', 'revoke', 'rotate'] as const;
type Action = (typeof ACTIONS)[number];

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, help } = parseCommandArgs(argv, {
    api: { type: 'string' },
    data: { type: 'string' },
    db: { type: 'string' },
    group: { type: 'string', multiple: true },
    tag: { type: 'string', multiple: true },
    json: { type: 'boolean' },
    'mosquitto-passwd': { type: 'string' },
    'mosquitto-acl': { type: 'string' },
    'mosquitto-pid': { type: 'string' },
    'broker-user': { type: 'string' },
    'broker-password-file': { type: 'string' },
  }, HELP);
  if (help) return 0;
  const [action, deviceId, ...extra] = positionals;
  if (!action || !ACTIONS.includes(action as Action)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `expected one of ${ACTIONS.join(', ')}, got '${action ?? ''}'\n\n${HELP}`);
  if (action === 'list' ? deviceId !== undefined : !deviceId || extra.length > 0) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', action === 'list' ? 'list takes no device id' : `${action} takes exactly one device id`);
  }
  if ((values.group || values.tag) && action !== 'add') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', '--group and --tag go with add');
  if (values.api && (values.data || values.db)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', '--api talks to a running cloud; --data/--db open a store directly: give one');

  const mosquitto = mosquittoFlags(values);
  if (mosquitto && values.api) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'with --api the running cloud keeps Mosquitto in step (its own --mosquitto-* flags); the --mosquitto-* flags here go with --data/--db');
  const { admin, close, endsSessions } = await openDeviceAdmin(targetOf(values, action === 'add', mosquitto));
  try {
    const out = await perform(admin, action as Action, deviceId, { groups: values.group ?? [], tags: values.tag ?? [] });
    console.log(values.json ? JSON.stringify(out, null, 2) : formatResult(action as Action, out, endsSessions));
    return 0;
  } finally {
    await close();
  }
}

/** The --mosquitto-* flags and the cloud's broker account, parsed; null when none is given. */
function mosquittoFlags(values: Record<string, unknown>): MosquittoSync | null {
  const files = [values['mosquitto-passwd'], values['mosquitto-acl'], values['mosquitto-pid']] as Array<string | undefined>;
  const anyBrokerFlag = files.some((v) => v !== undefined) || values['broker-user'] !== undefined || values['broker-password-file'] !== undefined;
  if (!anyBrokerFlag) return null;
  if (files.some((v) => v === undefined)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', '--mosquitto-passwd, --mosquitto-acl and --mosquitto-pid go together');
  const username = values['broker-user'] as string | undefined;
  if (!username) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', "Mosquitto's password file also holds the cloud's account: give --broker-user");
  const passwordFile = values['broker-password-file'] as string | undefined;
  const env = process.env.EDGEKD_BROKER_PASSWORD;
  if (passwordFile && env) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'give the broker password once: --broker-password-file or EDGEKD_BROKER_PASSWORD');
  let password: string | undefined = env;
  if (passwordFile) {
    try {
      password = readFileSync(passwordFile, 'utf8').split('\n')[0]!.trim();
    } catch (e) {
      throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `cannot read --broker-password-file ${passwordFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  if (!password) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', "the cloud's broker password: --broker-password-file FILE or EDGEKD_BROKER_PASSWORD");
  return { files: { passwordFile: files[0]!, aclFile: files[1]!, pidFile: files[2]! }, service: { username, password } };
}

/** The flags' target: --api with the token from the environment, else the store (--db, or --data's cloud.db). */
function targetOf(values: { api?: string; data?: string; db?: string }, mayCreate: boolean, mosquitto: MosquittoSync | null): DeviceAdminTarget {
  if (values.api) {
    const token = process.env.EDGEKD_API_TOKEN;
    if (!token) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', '--api needs an admin token in the environment variable EDGEKD_API_TOKEN');
    return { api: { url: values.api, token } };
  }
  const db = values.db ?? `sqlite:${join(values.data ?? '.edgekd/cloud', 'cloud.db')}`;
  return { db, mayCreate, ...(mosquitto ? { mosquitto } : {}) };
}

/** The one library call per action. */
function perform(admin: DeviceAdmin, action: Action, deviceId: string | undefined, labels: { groups: string[]; tags: string[] }): Promise<unknown> {
  switch (action) {
    case 'add': return admin.add({ deviceId: deviceId!, groups: labels.groups, tags: labels.tags });
    case 'list': return admin.list();
    case 'revoke': return admin.revoke(deviceId!);
    case 'rotate': return admin.rotate(deviceId!);
  }
}

const when = (ms: number | null): string => (ms === null ? '–' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

/** `endsSessions`: the change reached the broker (the API's cloud, or Mosquitto reloaded here). */
function formatResult(action: Action, out: unknown, endsSessions: boolean): string {
  if (action === 'list') {
    const rows = out as DeviceSummary[];
    if (rows.length === 0) return 'no devices';
    const table = [['device', 'state', 'groups', 'tags', 'created', 'last seen'], ...rows.map((d) => [d.deviceId, d.revokedAt !== null ? 'revoked' : d.presence, d.groups.join(',') || '–', d.tags.join(',') || '–', when(d.createdAt), when(d.lastSeen)])];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
    return table.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
  }
  if (action === 'revoke') {
    const d = out as DeviceSummary;
    return `device ${d.deviceId} revoked at ${when(d.revokedAt)}; it can no longer connect.${endsSessions ? '' : '\nA running cloud refuses it from its next connect; a session open now ends only through the API (--api).'}`;
  }
  const c = out as { deviceId: string; username: string; password: string };
  return [
    `device ${c.deviceId} ${action === 'add' ? 'added' : 'has new credentials'}; shown once, only a hash is stored:`,
    `  username  ${c.username}`,
    `  password  ${c.password}`,
    `Put them in the agent's config (mqtt.username, mqtt.password).${action === 'add' ? ' --json also prints the trusted signing keys for trusted-keys.json.' : ' The old password no longer works.'}`,
  ].join('\n');
}
