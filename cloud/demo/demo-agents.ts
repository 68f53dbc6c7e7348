import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const EDGEKD_BIN = fileURLToPath(new URL('../../bin/edgekd.mjs', import.meta.url));

export interface DemoAgent {
  readonly deviceId: string;
  readonly httpUrl: string;
  readonly logFile: string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * One local edge agent as its own process (`edgekd agent --config FILE`), as a device would run
 * it: MQTT to the demo broker with its provisioned credentials, inference on a loopback HTTP port.
 * Its log goes to a file so the demo's terminal stays readable.
 */
export async function startDemoAgent(o: { dir: string; deviceId: string; brokerUrl: string; username: string; password: string; trustedKeysJson: string }): Promise<DemoAgent> {
  const dir = join(o.dir, o.deviceId);
  mkdirSync(dir, { recursive: true });
  const trustedKeysFile = join(dir, 'trusted-keys.json');
  writeFileSync(trustedKeysFile, o.trustedKeysJson);
  const port = await freePort();
  const configFile = join(dir, 'agent.json');
  writeFileSync(configFile, JSON.stringify({
    deviceId: o.deviceId,
    stateDir: join(dir, 'state'),
    trustedKeysFile,
    mqtt: { url: o.brokerUrl, username: o.username, password: o.password, protocolVersion: 4 },
    http: { enabled: true, host: '127.0.0.1', port },
    heartbeatIntervalMs: 2_000,
    // Drift statistics every 10 s (default 5 min) so the demo's alarm shows up while one watches.
    driftReportEveryMs: 10_000,
    // A shorter field baseline than the default 4,000 (no drift is scored before it is complete):
    // at the demo feeder's rate it is collected in about a minute after the first rollout.
    driftBaselineSamples: 1_000,
    outboxResendIntervalMs: 2_000,
  }, null, 2));
  const logFile = join(dir, 'agent.log');
  const { openSync, closeSync } = await import('node:fs');
  const fd = openSync(logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, [EDGEKD_BIN, 'agent', '--config', configFile], { stdio: ['ignore', fd, fd], env: { ...process.env, EDGEKD_LOG_LEVEL: process.env.EDGEKD_AGENT_LOG_LEVEL ?? 'info' } });
  closeSync(fd);
  return {
    deviceId: o.deviceId,
    httpUrl: `http://127.0.0.1:${port}`,
    logFile,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGTERM');
      });
    },
  };
}
