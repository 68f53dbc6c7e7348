import { afterAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker';
import { filterMatches } from './retained-index';

describe('MQTT filter matching for retained messages', () => {
  it('matches + on one level, # on the rest, exact topics exactly', () => {
    expect(filterMatches('a/b/c', 'a/b/c')).toBe(true);
    expect(filterMatches('a/b/c', 'a/b/c/d')).toBe(false);
    expect(filterMatches('a/+/c', 'a/x/c')).toBe(true);
    expect(filterMatches('a/+/c', 'a//c')).toBe(true);
    expect(filterMatches('a/+', 'a/x/c')).toBe(false);
    expect(filterMatches('a/#', 'a')).toBe(true);
    expect(filterMatches('a/#', 'a/x/y')).toBe(true);
    expect(filterMatches('#', 'a/x')).toBe(true);
    expect(filterMatches('b/#', 'a/x')).toBe(false);
  });

  it('never lets a leading wildcard match a $ topic', () => {
    expect(filterMatches('#', '$SYS/x')).toBe(false);
    expect(filterMatches('+/x', '$SYS/x')).toBe(false);
    expect(filterMatches('$SYS/#', '$SYS/x')).toBe(true);
  });
});

describe('the embedded broker serves retained messages from its index', () => {
  let broker: EmbeddedBroker;
  afterAll(async () => broker?.close());

  const retainedFor = async (filters: string[]): Promise<Record<string, string>> => {
    const c = await mqtt.connectAsync(broker.url, { clientId: `ri-sub-${Math.random().toString(36).slice(2)}`, protocolVersion: 4 });
    const got: Record<string, string> = {};
    c.on('message', (topic, payload, packet) => {
      if (packet.retain) got[topic] = payload.toString();
    });
    await c.subscribeAsync(filters, { qos: 1 });
    await new Promise((r) => setTimeout(r, 150));
    await c.endAsync();
    return got;
  };

  it('answers exact and wildcard filters, honours replacement and deletion', async () => {
    broker = await startEmbeddedBroker({ port: 0 });
    const pub = await mqtt.connectAsync(broker.url, { clientId: 'ri-pub', protocolVersion: 4 });
    for (let i = 0; i < 50; i++) await pub.publishAsync(`ri/dev${i}/offer`, `v1-${i}`, { qos: 1, retain: true });
    await pub.publishAsync('ri/dev7/offer', 'v2-7', { qos: 1, retain: true });
    await pub.publishAsync('ri/dev8/offer', '', { qos: 1, retain: true }); // deletes
    await pub.endAsync();

    expect(await retainedFor(['ri/dev7/offer', 'ri/dev8/offer', 'ri/dev9/status'])).toEqual({ 'ri/dev7/offer': 'v2-7' });
    const all = await retainedFor(['ri/+/offer']);
    expect(Object.keys(all)).toHaveLength(49);
    expect(all['ri/dev3/offer']).toBe('v1-3');
    expect(all['ri/dev8/offer']).toBeUndefined();
  });
});
