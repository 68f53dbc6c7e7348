import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { createLogger } from '../../shared/log/logger';
import { resolveAgentConfig } from './config';
import { createMqttLink } from './mqtt-link';

/** A stand-in for mqtt.js: records CONNECT attempts and the will each one carries. */
class FakeClient extends EventEmitter {
  connected = false;
  options: Record<string, unknown> = {};
  attempts: Array<{ will: unknown }> = [];
  stream = {};
  connect(): this {
    this.attempts.push({ will: this.options.will });
    return this;
  }
  subscribe(_t: unknown, _o: unknown, cb: (e: Error | null) => void): void {
    cb(null);
  }
  publish(_t: string, _p: unknown, _o: unknown, cb: (e?: Error) => void): void {
    cb();
  }
  end(_f: boolean, _o: unknown, cb: () => void): void {
    cb();
  }
}

function setup(random: () => number) {
  const config = resolveAgentConfig({ deviceId: 'dev-1', stateDir: 's', trustedKeysFile: 'k.json', mqtt: { url: 'mqtt://127.0.0.1:1', reconnectPeriodMs: 1000, reconnectMaxMs: 8000 } }, '/tmp');
  const timers: Array<{ ms: number; f: () => void; cancelled: boolean }> = [];
  const fake = new FakeClient();
  const link = createMqttLink({
    config,
    presence: (state, sessionSeq) => ({ schema: 'edgekd.presence/1', deviceId: 'dev-1', state, bootId: 'b', bootSeq: 1, sessionSeq, ts: new Date(0).toISOString() }),
    onMessage: () => undefined,
    onConnected: () => undefined,
    log: createLogger('test', 'silent'),
    connect: (_url, opts) => {
      fake.options = opts as Record<string, unknown>;
      fake.attempts.push({ will: opts.will });
      return fake as unknown as MqttClient;
    },
    random,
    setTimer: (f, ms) => {
      const t = { ms, f, cancelled: false };
      timers.push(t);
      return { cancel: () => void (t.cancelled = true) };
    },
  });
  /** The connection attempt fails or drops: mqtt.js emits close; the link schedules the next attempt. */
  const drop = (): number => {
    fake.connected = false;
    fake.emit('close');
    const t = timers.at(-1)!;
    t.f();
    return t.ms;
  };
  return { link, fake, timers, drop };
}

describe('agent MQTT reconnects', () => {
  it('leave mqtt.js its fixed period off, try at once after a loss, then back off with full jitter up to the cap', () => {
    const { link, fake, drop } = setup(() => 0.5);
    link.start();
    expect(fake.options.reconnectPeriod).toBe(0);
    // windows 1 s, 2 s, 4 s, 8 s (cap), 8 s: half of each with random() = 0.5
    expect([drop(), drop(), drop(), drop(), drop(), drop()]).toEqual([0, 500, 1000, 2000, 4000, 4000]);
    expect(fake.attempts).toHaveLength(7);
  });

  it('start over with an immediate attempt after a successful connect', () => {
    const { link, fake, drop } = setup(() => 0.99);
    link.start();
    drop();
    drop();
    fake.connected = true;
    fake.emit('connect');
    expect(drop()).toBe(0);
    expect(drop()).toBe(990);
  });

  it('give each attempt the next session number in its will', () => {
    const { link, fake, drop } = setup(() => 0);
    link.start();
    drop();
    drop();
    const seqs = fake.attempts.map((a) => JSON.parse(String((a.will as { payload: Buffer }).payload)).sessionSeq);
    expect(seqs).toEqual([1, 2, 3]);
    expect(link.sessionSeq()).toBe(3);
  });

  it('schedule nothing once stopped', async () => {
    const { link, fake, timers } = setup(() => 0.5);
    link.start();
    await link.stop();
    fake.emit('close');
    expect(timers).toHaveLength(0);
  });
});
