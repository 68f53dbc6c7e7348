import { describe, expect, it } from 'vitest';
import { isEdgekdError } from '../../shared/errors';
import { resolveAgentConfig } from './config';

const minimal = { deviceId: 'dev-1', stateDir: 'state', trustedKeysFile: 'keys.json', mqtt: { url: 'mqtt://127.0.0.1:1883' } };

describe('agent configuration', () => {
  it('fills every default and resolves paths against the config directory', () => {
    const c = resolveAgentConfig(minimal, '/etc/edgekd');
    expect(c.stateDir).toBe('/etc/edgekd/state');
    expect(c.mqtt.protocolVersion).toBe(4);
    expect(c.mqtt.keepaliveSec).toBe(30);
    expect(c.inference.executionProviders).toEqual(['cpu']);
    expect(c.http).toMatchObject({ enabled: true, host: '127.0.0.1', port: 8470 });
    expect(c.download.windowChunks).toBe(4);
    expect(c.stepTimeouts.verifyingMs).toBe(120_000);
  });

  it.each([
    ['an unknown top-level key', { ...minimal, heartbeatInterval: 5 }],
    ['an unknown nested key', { ...minimal, mqtt: { url: 'mqtt://x', keepalive: 5 } }],
    ['a device id with a topic wildcard', { ...minimal, deviceId: 'a/+' }],
    ['an unknown execution provider', { ...minimal, inference: { executionProviders: ['gpu'] } }],
    ['a missing broker url', { ...minimal, mqtt: {} }],
  ])('rejects %s with EDGEKD_CONFIG_INVALID', (_n, cfg) => {
    try {
      resolveAgentConfig(cfg);
      throw new Error('accepted');
    } catch (e) {
      expect(isEdgekdError(e, 'EDGEKD_CONFIG_INVALID')).toBe(true);
    }
  });
});
