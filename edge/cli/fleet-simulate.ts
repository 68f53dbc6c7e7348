import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { numberFlag, parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { EdgekdError } from '../../shared/errors';
import { startSimulatedFleet } from '../sim/fleet';

const HELP = `usage: edgekd fleet simulate --agents N --broker URL --trusted-keys FILE [options]

Starts N real edge agents (each with its own MQTT connection, state directory and SQLite outbox)
spread over a few processes, for tests and the fleet benchmark. Runs until SIGINT/SIGTERM or
--duration-sec; prints one JSON line when all are connected and one per --status-every-sec.

  --agents N             number of agents
  --processes P          worker processes (default 2)
  --broker URL           e.g. mqtt://127.0.0.1:1883
  --trusted-keys FILE    trusted signing keys (shared/package trusted-keys document)
  --state-dir DIR        parent of the per-agent state dirs (default: a new temp dir)
  --id-prefix P          device id prefix (default sim-)
  --engine E             onnxruntime (default) or light: a tiny deterministic stand-in that
                         reads the model file but does not run it, for 1,000+ agents on a few
                         cores where onnxruntime itself would be what is measured
  --protocol V           4 (MQTT 3.1.1, default) or 5
  --heartbeat-ms MS      heartbeat interval (default 30000)
  --start-concurrency C  agents connecting at once per process (default 25)
  --username U --password P   broker credentials (all agents)
  --duration-sec S       stop after S seconds
  --status-every-sec S   print a status line every S seconds (default 0: never)`;

export async function run(argv: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(
    argv,
    {
      agents: { type: 'string' }, processes: { type: 'string' }, broker: { type: 'string' }, 'trusted-keys': { type: 'string' },
      'state-dir': { type: 'string' }, 'id-prefix': { type: 'string' }, engine: { type: 'string' }, protocol: { type: 'string' },
      'heartbeat-ms': { type: 'string' }, 'start-concurrency': { type: 'string' }, username: { type: 'string' }, password: { type: 'string' },
      'duration-sec': { type: 'string' }, 'status-every-sec': { type: 'string' },
    },
    HELP,
  );
  if (help) return 0;
  const v = values as Record<string, string | undefined>;
  const engine = v.engine ?? 'onnxruntime';
  if (engine !== 'onnxruntime' && engine !== 'light') throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `--engine must be onnxruntime or light, got '${engine}'`);
  const protocol = numberFlag(v.protocol, 'protocol', 4);
  if (protocol !== 4 && protocol !== 5) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', '--protocol must be 4 or 5');
  const agents = numberFlag(requireFlag(v.agents, 'agents'), 'agents', 1, { min: 1, max: 100_000 });
  const fleet = startSimulatedFleet({
    agents,
    processes: numberFlag(v.processes, 'processes', 2, { min: 1, max: 64 }),
    brokerUrl: requireFlag(v.broker, 'broker'),
    trustedKeysFile: resolve(requireFlag(v['trusted-keys'], 'trusted-keys')),
    stateDir: resolve(v['state-dir'] ?? mkdtempSync(join(tmpdir(), 'edgekd-fleet-'))),
    idPrefix: v['id-prefix'] ?? 'sim-',
    engine,
    protocolVersion: protocol,
    heartbeatIntervalMs: numberFlag(v['heartbeat-ms'], 'heartbeat-ms', 30_000, { min: 100 }),
    startConcurrency: numberFlag(v['start-concurrency'], 'start-concurrency', 25, { min: 1 }),
    ...(v.username !== undefined ? { username: v.username } : {}),
    ...(v.password !== undefined ? { password: v.password } : {}),
  });
  const t0 = Date.now();
  await fleet.ready();
  console.log(JSON.stringify({ ready: agents, startSeconds: (Date.now() - t0) / 1000, first: fleet.deviceIds[0], last: fleet.deviceIds.at(-1) }));
  const every = numberFlag(v['status-every-sec'], 'status-every-sec', 0, { min: 0 });
  const timer = every > 0 ? setInterval(() => void fleet.status().then((s) => console.log(JSON.stringify({ status: s }))), every * 1000) : null;
  const duration = numberFlag(v['duration-sec'], 'duration-sec', 0, { min: 0 });
  await new Promise<void>((resolveStop) => {
    process.once('SIGINT', () => resolveStop());
    process.once('SIGTERM', () => resolveStop());
    if (duration > 0) setTimeout(resolveStop, duration * 1000);
  });
  if (timer) clearInterval(timer);
  console.log(JSON.stringify({ final: await fleet.status() }));
  await fleet.stop();
  return 0;
}
