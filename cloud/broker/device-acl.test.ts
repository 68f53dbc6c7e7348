import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mayPublish, maySubscribe, mosquittoAclText } from './device-acl';

const me = { kind: 'device' as const, deviceId: 'cam-1' };
const cloud = { kind: 'service' as const, name: 'edgekd-cloud' };

describe('device ACL', () => {
  it.each([
    ['edgekd/v1/devices/cam-1/status', true],
    ['edgekd/v1/devices/cam-1/presence', true],
    ['edgekd/v1/devices/cam-1/chunk/req', true],
    ['edgekd/v1/devices/cam-1/offer', false],
    ['edgekd/v1/devices/cam-2/status', false],
    ['edgekd/v1/devices/cam-1/status/x', false],
    ['other/topic', false],
  ])('a device publishing %s → %s', (topic, ok) => {
    expect(mayPublish(me, topic)).toBe(ok);
  });
  it.each([
    ['edgekd/v1/devices/cam-1/offer', true],
    ['edgekd/v1/devices/cam-1/cmd', true],
    ['edgekd/v1/devices/cam-1/status', false],
    ['edgekd/v1/devices/cam-2/offer', false],
    ['edgekd/v1/devices/+/offer', false],
    ['edgekd/v1/devices/cam-1/#', false],
    ['#', false],
  ])('a device subscribing to %s → %s', (filter, ok) => {
    expect(maySubscribe(me, filter)).toBe(ok);
  });
  it('lets the cloud service account use every device topic', () => {
    expect(mayPublish(cloud, 'edgekd/v1/devices/cam-2/offer')).toBe(true);
    expect(maySubscribe(cloud, 'edgekd/v1/devices/+/status')).toBe(true);
  });
  it('matches the Mosquitto ACL file shipped in deploy/mosquitto/acl', () => {
    expect(readFileSync(resolve(__dirname, '../../deploy/mosquitto/acl'), 'utf8')).toBe(mosquittoAclText());
  });
});
