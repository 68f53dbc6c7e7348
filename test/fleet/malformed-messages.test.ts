import { afterAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { topicFor } from '../../shared/protocol/codec';
import { fleetWorld, until, type FleetWorld, AGENT_START_MS, E2E_TIMEOUT_MS } from './helpers/fleet-world';

/**
 * Garbage and oversized payloads on every topic of an agent and of the cloud: both sides log a
 * typed error, neither process dies, and a rollout afterwards still completes.
 */
describe('malformed and oversized messages', () => {
  let w: FleetWorld;
  afterAll(async () => w?.close());

  it('get typed errors and crash nothing', async () => {
    w = await fleetWorld({ agents: 1, auth: false });
    const [agent] = w.agents;
    const id = agent!.deviceId;
    await until(async () => (await w.cloud.getDevice(id))?.presence === 'online', AGENT_START_MS, 'agent online');
    const c = await mqtt.connectAsync(w.brokerUrl, { protocolVersion: 4 });
    const huge = Buffer.alloc(3 * 1024 * 1024, 0x61);
    for (const kind of ['offer', 'command', 'ack', 'chunkResponse', 'inferRequest'] as const) {
      await c.publishAsync(topicFor(kind, id), 'not json {', { qos: 1 });
      await c.publishAsync(topicFor(kind, id), JSON.stringify({ schema: 'edgekd.nope/9' }), { qos: 1 });
    }
    await c.publishAsync(topicFor('command', id), huge, { qos: 1 });
    await c.publishAsync(topicFor('offer', id), '', { qos: 1, retain: true });
    for (const kind of ['status', 'heartbeat', 'presence', 'chunkRequest', 'drift'] as const) {
      await c.publishAsync(topicFor(kind, id), '\u0000\u0001garbage', { qos: 1 });
    }
    await c.publishAsync(topicFor('status', id), huge, { qos: 1 });
    await c.endAsync();

    await until(() => w.events.filter((e) => e.type === 'message-rejected').length >= 6, 10_000, 'cloud rejections');
    const cloudCodes = new Set(w.events.flatMap((e) => (e.type === 'message-rejected' ? [e.error.code] : [])));
    expect([...cloudCodes].sort()).toEqual(['EDGEKD_MESSAGE_INVALID', 'EDGEKD_PAYLOAD_TOO_LARGE']);
    await until(() => /EDGEKD_PAYLOAD_TOO_LARGE/.test(agent!.log()) && /EDGEKD_MESSAGE_INVALID/.test(agent!.log()), 10_000, 'agent logs typed errors');
    expect(agent!.alive()).toBe(true);

    const pkg = await w.register(w.makePackage(1, 20_000));
    const r = await w.cloud.createRollout({ packageId: pkg, target: { devices: [id] }, bakeMs: 0 });
    expect((await w.waitStatus(r.id, ['completed', 'rolled_back', 'failed'], 60_000)).status).toBe('completed');
    expect(agent!.alive()).toBe(true);
  }, E2E_TIMEOUT_MS);
});
