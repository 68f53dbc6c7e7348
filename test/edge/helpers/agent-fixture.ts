import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrustedKeys } from '../../../shared/package';

/** A temp state dir with a trusted-keys file and an agent config pointing at `brokerUrl`. */
export function agentConfigFixture(o: { brokerUrl: string; deviceId: string; trustedKeys: TrustedKeys; extra?: Record<string, unknown>; dir?: string }): { dir: string; configPath: string; config: Record<string, unknown>; cleanup(): void } {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), `edgekd-agent-${o.deviceId}-`));
  const keysPath = join(dir, 'trusted-keys.json');
  writeFileSync(keysPath, JSON.stringify(o.trustedKeys));
  const config = {
    deviceId: o.deviceId,
    stateDir: join(dir, 'state'),
    trustedKeysFile: keysPath,
    mqtt: { url: o.brokerUrl, reconnectPeriodMs: 200, keepaliveSec: 5 },
    http: { port: 0 },
    heartbeatIntervalMs: 500,
    // Unacked reports are resent after this long. Tests that assert "no duplicate delivery" need it
    // well above an ack round trip on a loaded 2-core CI machine (500 ms produced a legitimate
    // at-least-once resend there); redelivery tests rely on the resend-all after a reconnect.
    outboxResendIntervalMs: 5_000,
    download: { chunkTimeoutMs: 500 },
    ...o.extra,
  };
  const configPath = join(dir, 'agent.json');
  writeFileSync(configPath, JSON.stringify(config));
  return { dir, configPath, config, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
