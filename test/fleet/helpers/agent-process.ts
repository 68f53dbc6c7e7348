import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { TrustedKeys } from '../../../shared/package/trusted-keys';
import { freePort } from '../../../shared/net/free-port';

const root = resolve(import.meta.dirname, '../../..');

export interface AgentProcessOptions {
  dir: string;
  deviceId: string;
  brokerUrl: string;
  username?: string;
  password?: string;
  trustedKeys: TrustedKeys;
  /** Extra top-level config (timeouts, download window, heartbeat …). */
  config?: Record<string, unknown>;
  /** The command line; by default `node bin/edgekd.mjs agent --config FILE` on this Node. */
  launch?: (configFile: string) => { command: string; args: string[] };
}

export interface AgentProcess {
  readonly deviceId: string;
  readonly httpPort: number;
  readonly configFile: string;
  /** stderr of every run so far (pino JSON lines). */
  log(): string;
  alive(): boolean;
  start(): Promise<void>;
  /** SIGKILL (a crash) or SIGTERM (clean stop); resolves when the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** POST /v1/infer on the agent's loopback endpoint. */
  infer(body: unknown): Promise<{ status: number; json: Record<string, unknown> }>;
}

/** A real edge agent in its own process. */
export async function createAgentProcess(o: AgentProcessOptions): Promise<AgentProcess> {
  const dir = join(o.dir, o.deviceId);
  mkdirSync(dir, { recursive: true });
  const trustedKeysFile = join(dir, 'trusted-keys.json');
  writeFileSync(trustedKeysFile, JSON.stringify(o.trustedKeys));
  const httpPort = await freePort();
  const configFile = join(dir, 'agent.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      deviceId: o.deviceId,
      stateDir: join(dir, 'state'),
      trustedKeysFile,
      mqtt: { url: o.brokerUrl, protocolVersion: 4, reconnectPeriodMs: 200, ...(o.username ? { username: o.username, password: o.password } : {}) },
      http: { enabled: true, host: '127.0.0.1', port: httpPort },
      heartbeatIntervalMs: 1_000,
      outboxResendIntervalMs: 1_000,
      ...o.config,
    }),
  );
  let child: ChildProcess | null = null;
  let stderr = '';
  const proc: AgentProcess = {
    deviceId: o.deviceId,
    httpPort,
    configFile,
    log: () => stderr,
    alive: () => child !== null && child.exitCode === null && child.signalCode === null,
    async start() {
      const { command, args } = o.launch?.(configFile) ?? { command: process.execPath, args: [join(root, 'bin/edgekd.mjs'), 'agent', '--config', configFile] };
      child = spawn(command, args, {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, EDGEKD_LOG_LEVEL: process.env.EDGEKD_AGENT_LOG_LEVEL ?? 'info' },
      });
      child.stdout!.on('data', (b: Buffer) => (stderr += b.toString()));
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    },
    async kill(signal = 'SIGKILL') {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      await new Promise<void>((r) => {
        c.once('exit', () => r());
        c.kill(signal);
      });
    },
    async infer(body) {
      const res = await fetch(`http://127.0.0.1:${httpPort}/v1/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    },
  };
  return proc;
}
