import { describe, expect, it } from 'vitest';
import { brokerCredentials } from './broker-credentials';

describe('brokerCredentials', () => {
  it('takes user info out of the URL so the secret is never part of a logged URL', () => {
    expect(brokerCredentials('mqtt://dev%2D1:s%40cret@127.0.0.1:1883')).toEqual({ url: 'mqtt://127.0.0.1:1883', username: 'dev-1', password: 's@cret' });
  });
  it('lets explicit flags win and works without credentials', () => {
    expect(brokerCredentials('mqtt://a:b@host:1', { username: 'u', password: 'p' })).toEqual({ url: 'mqtt://host:1', username: 'u', password: 'p' });
    expect(brokerCredentials('mqtts://host:8883')).toEqual({ url: 'mqtts://host:8883' });
  });
  it('refuses what is not an MQTT URL', () => {
    expect(() => brokerCredentials('127.0.0.1:1883')).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
    expect(() => brokerCredentials('http://host')).toThrow(/mqtt/);
  });
});
