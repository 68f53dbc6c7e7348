import net from 'node:net';
import { describe } from 'vitest';

/**
 * Suites that need an external service (Mosquitto, PostgreSQL) run when it answers and are
 * reported as skipped when it does not. With EDGEKD_REQUIRE_SERVICES=1 (set by .ci/run) a missing
 * service fails the suite instead, so CI can never silently skip them.
 */
export function servicesRequired(): boolean {
  return process.env.EDGEKD_REQUIRE_SERVICES === '1';
}

export async function tcpReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export const MOSQUITTO_URL = process.env.EDGEKD_TEST_MOSQUITTO_URL ?? 'mqtt://127.0.0.1:1883';
export const POSTGRES_URL = process.env.EDGEKD_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function gate(name: string, host: string, port: number): Promise<typeof describe | typeof describe.skip> {
  const up = await tcpReachable(host, port);
  if (up) return describe;
  if (servicesRequired()) {
    throw new Error(`${name} is required (EDGEKD_REQUIRE_SERVICES=1) but ${host}:${port} does not answer`);
  }
  return describe.skip;
}

/** `const d = await describeWithMosquitto(); d('…', () => …)` */
export function describeWithMosquitto(): Promise<typeof describe | typeof describe.skip> {
  const u = new URL(MOSQUITTO_URL);
  return gate('Mosquitto', u.hostname, Number(u.port || 1883));
}

export function describeWithPostgres(): Promise<typeof describe | typeof describe.skip> {
  const u = new URL(POSTGRES_URL);
  return gate('PostgreSQL', u.hostname, Number(u.port || 5432));
}
