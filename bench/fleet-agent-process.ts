/**
 * Child process of bench/fleet.ts: runs COUNT real edge agents (createAgent from edge/, each with
 * its own MQTT connection, state directory and SQLite outbox) with the `light` inference engine,
 * which reads and "runs" the model file without onnxruntime (thousands of onnxruntime sessions on
 * two cores would measure onnxruntime, not the rollout). Prints "ready" when all are connected.
 *
 *   node bin/run-ts.mjs bench/fleet-agent-process.ts URL PREFIX FROM COUNT STATE_ROOT TRUSTED_KEYS_FILE
 */
import { join } from 'node:path';
import { createAgent, type Agent } from '../edge/agent/create-agent';
import { createLogger } from '../shared/log/logger';

const [url, prefix, from, count, stateRoot, trustedKeysFile] = process.argv.slice(2);
const log = createLogger('bench-agent', process.env.EDGEKD_LOG_LEVEL ?? 'warn');
const agents: Agent[] = [];
const start = Number(from);
const n = Number(count);
for (let i = start; i < start + n; i += 25) {
  const batch: Agent[] = [];
  for (let j = i; j < Math.min(start + n, i + 25); j++) {
    batch.push(
      createAgent({
        logger: log,
        config: {
          deviceId: `${prefix}-${j}`,
          stateDir: join(stateRoot!, `${prefix}-${j}`),
          trustedKeysFile: trustedKeysFile!,
          mqtt: { url: url!, protocolVersion: 4, reconnectPeriodMs: 1000, connectTimeoutMs: 30_000 },
          http: { enabled: false },
          inference: { engine: 'light', mqttEnabled: false },
          heartbeatIntervalMs: 60_000,
          outboxResendIntervalMs: 10_000,
          warmupRuns: 1,
          // The light engine's outputs are stand-ins: no drift monitor (edge/sim does the same).
          driftReportEveryMs: 0,
        },
      }),
    );
  }
  await Promise.all(batch.map((a) => a.start()));
  await Promise.all(batch.map((a) => a.whenConnected()));
  agents.push(...batch);
}
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  void Promise.allSettled(agents.map((a) => a.stop())).finally(() => process.exit(0));
});
