import { readFileSync } from 'node:fs';
import { exitAfterStop } from '../../shared/cli/exit-after-stop';
import { parseCommandArgs, numberFlag } from '../../shared/cli/args';
import { EdgekdError } from '../../shared/errors';
import type { ApiToken, Role } from '../api/auth';
import { startCloud } from '../api/start-cloud';
import { parseBrokerTarget } from '../broker/broker-target';
import { parseCloudRole } from '../scale/cloud-roles';
import { parseIngestGroup } from '../fleet/ingest/ingest-filters';

const HELP = `usage: edgekd cloud [options]

Runs the cloud: store, MQTT broker (embedded unless --broker), fleet controller, job runner,
API (OpenAPI at /docs) and console. Prints the console URL with an admin token. Ctrl-C stops
everything; running jobs resume on the next start.

options:
  --data DIR        state folder (SQLite file, job folders, uploads)   [.edgekd/cloud]
  --db URL          sqlite:PATH or postgres://user@host/db              [sqlite:DIR/cloud.db]
  --db-schema NAME  PostgreSQL schema for the cloud's tables              [the connection's search path]
  --artifacts DIR   artifact store (packages, students, checkpoints by sha256); on split roles
                    a path every process mounts                          [DIR/artifacts]
  --download-url URL  base URL devices download packages from when a rollout delivers over
                    HTTP (on split roles: the api Service)                [none: delivery "http" refused]
  --broker URL      external MQTT broker, MQTT 5 (mqtt://HOST:1883, mqtts://HOST:8883); the
                    cloud's account may be given as mqtt://USER:PASSWORD@HOST:PORT
  --broker-user U   the cloud's MQTT user (or in the URL)
  --broker-password-file FILE  the cloud's MQTT password, read from FILE (or in the URL, or
                    in the environment variable EDGEKD_BROKER_PASSWORD); never printed or logged
  --broker-ca FILE  CA certificate(s) to trust for mqtts://
  --broker-cert FILE, --broker-key FILE  client certificate and key for mqtts://
  --mosquitto-passwd FILE, --mosquitto-acl FILE, --mosquitto-pid FILE
                    Mosquitto's password_file, acl_file and pid_file: the cloud writes the first
                    two from the device registry (at start and after every device change) and
                    sends SIGHUP to the pid so Mosquitto reloads them; give all three or none
  --mqtt-port N     port of the embedded broker                         [1883 if free, else random]
  --host HOST       HTTP listen address                                 [127.0.0.1]
  --port N          HTTP port                                           [8080]
  --token ROLE:TOKEN  an API token (repeatable; roles viewer, operator, admin) [one generated admin token]
  --token-file FILE   API tokens read from FILE, one ROLE:TOKEN per line (e.g. a mounted Kubernetes
                    Secret: tokens stay out of the command line); with --token, both count
  --concurrency N   jobs running at once                                [1]
  --teacher DIR     the bundled teacher folder                          [models/teachers/fashion-mnist-lenet5-bn]
  --no-fleet        run without broker and fleet controller
  --role ROLE       all | api | fleet | worker | ingest (see docs/scale-out.md)  [all]
                    api: HTTP API and console; fleet: fleet controller, drift and retrain on the
                    elected leader (others stand by); worker: runs jobs; ingest: takes a share of
                    the device reports (status, drift, heartbeat; MQTT 5 shared subscription),
                    logs and acks them for the fleet leader to apply. Split roles need PostgreSQL
                    (--db) and an external broker (--broker); with the embedded broker (MQTT
                    3.1.1) the cloud runs as one process (--role all).
  --ingest-group G  MQTT 5 share group of device-report ingest; the same for every process of
                    one cloud                                           [edgekd-ingest]
  --process-id ID   this process's id (job lease owner, MQTT client id)  [EDGEKD_PROCESS_ID, else generated]
  --leader-ttl-ms N fleet leader lease lifetime: a standby takes over this long after the leader
                    stopped renewing (renewed every third of it)          [6000]

The embedded broker (no --broker) refuses anonymous clients: devices log in with the credentials
given when they were provisioned, the cloud with an account it makes at each start.`;

export function parseTokens(values: readonly string[] | undefined): ApiToken[] | undefined {
  if (!values || values.length === 0) return undefined;
  return values.map((v) => {
    const i = v.indexOf(':');
    const role = v.slice(0, i) as Role;
    const token = v.slice(i + 1);
    if (i < 1 || !['viewer', 'operator', 'admin'].includes(role) || token.length < 8) {
      throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--token must be ROLE:TOKEN with a role of viewer, operator or admin and a token of 8+ characters, got '${v}'`);
    }
    return { role, token, name: role };
  });
}

/** The non-empty, non-comment lines of a token file. */
export function tokenLines(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--token-file ${file}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** An http(s) base URL without a trailing slash (offers append the download path to it). */
export function parseDownloadUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--download-url must be an http:// or https:// URL, got '${raw.slice(0, 200)}'`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || u.search || u.hash) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--download-url must be an http:// or https:// URL without credentials, query or fragment, got '${raw.slice(0, 200)}'`);
  }
  return u.href.replace(/\/+$/, '');
}

export async function run(argv: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(argv, {
    data: { type: 'string' },
    db: { type: 'string' },
    'db-schema': { type: 'string' },
    artifacts: { type: 'string' },
    'download-url': { type: 'string' },
    broker: { type: 'string' },
    'broker-user': { type: 'string' },
    'broker-password-file': { type: 'string' },
    'broker-ca': { type: 'string' },
    'broker-cert': { type: 'string' },
    'broker-key': { type: 'string' },
    'mosquitto-passwd': { type: 'string' },
    'mosquitto-acl': { type: 'string' },
    'mosquitto-pid': { type: 'string' },
    'mqtt-port': { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    token: { type: 'string', multiple: true },
    'token-file': { type: 'string' },
    concurrency: { type: 'string' },
    teacher: { type: 'string' },
    'no-fleet': { type: 'boolean' },
    role: { type: 'string' },
    'process-id': { type: 'string' },
    'leader-ttl-ms': { type: 'string' },
    'ingest-group': { type: 'string' },
  }, HELP);
  if (help) return 0;
  const broker = values.broker
    ? parseBrokerTarget({
        url: values.broker,
        username: values['broker-user'],
        passwordFile: values['broker-password-file'],
        envPassword: process.env.EDGEKD_BROKER_PASSWORD,
        caFile: values['broker-ca'],
        certFile: values['broker-cert'],
        keyFile: values['broker-key'],
      })
    : undefined;
  const mosq = [values['mosquitto-passwd'], values['mosquitto-acl'], values['mosquitto-pid']];
  if (mosq.some((v) => v !== undefined) && (mosq.some((v) => v === undefined) || !broker)) {
    throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', '--mosquitto-passwd, --mosquitto-acl and --mosquitto-pid go together, with --broker');
  }
  const cloud = await startCloud({
    dataDir: values.data ?? '.edgekd/cloud',
    db: values.db,
    ...(values['db-schema'] ? { dbSchema: values['db-schema'] } : {}),
    ...(values.artifacts ? { artifactsDir: values.artifacts } : {}),
    ...(values['download-url'] ? { downloadUrl: parseDownloadUrl(values['download-url']) } : {}),
    ...(broker ? { broker } : {}),
    ...(mosq[0] && mosq[1] && mosq[2] ? { mosquittoAuth: { passwordFile: mosq[0], aclFile: mosq[1], pidFile: mosq[2] } } : {}),
    brokerPort: values['mqtt-port'] ? numberFlag(values['mqtt-port'], 'mqtt-port', 0, { min: 0, max: 65535 }) : undefined,
    host: values.host,
    port: numberFlag(values.port, 'port', 8080, { min: 0, max: 65535 }),
    tokens: parseTokens([...(values.token ?? []), ...(values['token-file'] ? tokenLines(values['token-file']) : [])]),
    concurrency: numberFlag(values.concurrency, 'concurrency', 1, { min: 1, max: 64 }),
    teacherDir: values.teacher,
    noFleet: values['no-fleet'],
    role: parseCloudRole(values.role),
    ...(values['process-id'] !== undefined ? { processId: values['process-id'] } : {}),
    ...(values['ingest-group'] !== undefined ? { ingestGroup: parseIngestGroup(values['ingest-group']) } : {}),
    ...(values['leader-ttl-ms'] !== undefined ? { leaderTtlMs: numberFlag(values['leader-ttl-ms'], 'leader-ttl-ms', 6000, { min: 1000, max: 600_000 }) } : {}),
  });
  const admin = cloud.tokens.find((t) => t.role === 'admin') ?? cloud.tokens[0]!;
  console.log(`edgekd cloud is up (role ${cloud.role}, process ${cloud.processId})
  console   ${cloud.url}/?token=${admin.token}
  API docs  ${cloud.url}/docs   (Authorization: Bearer ${admin.token})
  metrics   ${cloud.url}/metrics
  broker    ${cloud.brokerUrl ?? 'none (this process runs no fleet)'}`);
  for (const [what, why] of Object.entries(cloud.absent)) console.log(`  absent    ${what}: ${why}`);
  console.log('Ctrl-C stops.');
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  console.log('stopping…');
  await cloud.close();
  console.log('stopped.');
  exitAfterStop();
  return 0;
}
