import { describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { startEmbeddedBroker } from '../broker/embedded-broker';
import { run } from './drift-inject';
import { DEMO_SHIFT_TOPIC, parseDemoShiftCommand, createShiftApplier } from '../../shared/drift/demo-shift';
import { createRandom } from '../../shared/random/seeded-random';

describe('edgekd drift inject', () => {
  it('publishes a retained shift command that a feeder connecting later receives and applies', async () => {
    const broker = await startEmbeddedBroker({ port: 0 });
    try {
      expect(await run(['--shift', 'contrast', '--severity', '4', '--devices', 'dev-1,dev-2', '--broker', broker.url], { now: () => 42 })).toBe(0);
      const sub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
      const got = new Promise<Buffer>((resolve) => sub.on('message', (_t, p) => resolve(p)));
      await sub.subscribeAsync(DEMO_SHIFT_TOPIC, { qos: 1 });
      const cmd = parseDemoShiftCommand.parse(JSON.parse((await got).toString()));
      await sub.endAsync();
      expect(cmd).toEqual({ schema: 'edgekd.demo-shift/1', shift: 'contrast', severity: 4, devices: ['dev-1', 'dev-2'], at: 42 });

      const feeder = createShiftApplier({ height: 2, width: 2, channels: 1, range: [-1, 1] }, 10, createRandom(1));
      feeder.set(cmd);
      const img = [-1, 1, -1, 1];
      expect(Array.from(feeder.apply('dev-1', img))).not.toEqual(img);
      expect(feeder.apply('dev-9', img)).toBe(img);
    } finally {
      await broker.close();
    }
  });

  it('posts to a feeder over HTTP, and rejects a bad shift or severity with a typed error', async () => {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      let b = '';
      req.on('data', (c) => (b += c));
      req.on('end', () => {
        bodies.push(`${req.url} ${b}`);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect(await run(['--shift', 'none', '--severity', '1', '--http', url])).toBe(0);
      expect(bodies[0]).toMatch(/^\/demo\/shift \{"schema":"edgekd.demo-shift\/1","shift":"none"/);
      await expect(run(['--shift', 'fog', '--severity', '2', '--http', url])).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
      await expect(run(['--shift', 'blur', '--severity', '9', '--http', url])).rejects.toMatchObject({ code: 'EDGEKD_INVALID_ARGUMENT' });
    } finally {
      server.close();
    }
  });
});
