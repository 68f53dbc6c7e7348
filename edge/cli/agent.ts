import { parseCommandArgs, requireFlag } from '../../shared/cli/args';
import { createLogger } from '../../shared/log/logger';
import { loadAgentConfig } from '../agent/config';
import { createAgent } from '../agent/create-agent';

const HELP = `usage: edgekd agent --config FILE

Runs an edge agent: connects to the MQTT broker, serves the active model on the local HTTP
endpoint and the infer/req topic, and installs the models the cloud offers.

  --config FILE   agent configuration (JSON; schema: edge/agent/config.ts, example: deploy/edge/agent.example.json)

Stops cleanly on SIGINT/SIGTERM (publishes offline/shutdown presence).`;

/** Signal wiring only; everything else (the drift monitor included) is built by createAgent. */
export async function run(argv: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(argv, { config: { type: 'string' } }, HELP);
  if (help) return 0;
  const config = await loadAgentConfig(requireFlag(values.config as string | undefined, 'config'));
  const log = createLogger('edge-agent');
  const agent = createAgent({ config, logger: log });
  await agent.start();
  // Readiness line for supervisors and tests: one JSON object on stdout.
  const addr = agent.httpAddress();
  console.log(JSON.stringify({ ready: true, deviceId: agent.deviceId, bootId: agent.bootId, httpPort: addr?.port ?? null }));
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await agent.stop(); // also queues the drift monitor's last partial period in the outbox
  return 0;
}
