import { describe, expect, it } from 'vitest';
import { parseBrokerTarget } from './broker-target';

const files: Record<string, string> = { '/pw': 's3cret\n', '/ca': 'CA', '/crt': 'CRT', '/key': 'KEY' };
const readFile = (p: string): Buffer => {
  if (!(p in files)) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  return Buffer.from(files[p]!);
};

describe('broker target', () => {
  it('takes the account from the URL and gives back a URL without it', () => {
    const t = parseBrokerTarget({ url: 'mqtt://edgekd-cloud:p%40ss@broker.lan:1883' });
    expect(t).toEqual({ url: 'mqtt://broker.lan:1883', username: 'edgekd-cloud', password: 'p@ss' });
  });
  it('reads the secret from a file or the environment, never twice', () => {
    expect(parseBrokerTarget({ url: 'mqtt://h:1', username: 'u', passwordFile: '/pw', readFile }).password).toBe('s3cret');
    expect(parseBrokerTarget({ url: 'mqtt://u@h:1', envPassword: 'env' }).password).toBe('env');
    expect(() => parseBrokerTarget({ url: 'mqtt://u:a@h:1', envPassword: 'env' })).toThrow(/password once/);
  });
  it('refuses a password without a user, a cert without its key, TLS files on mqtt://', () => {
    expect(() => parseBrokerTarget({ url: 'mqtt://h:1', envPassword: 'x' })).toThrow(/needs a user/);
    expect(() => parseBrokerTarget({ url: 'mqtts://h:1', certFile: '/crt', readFile })).toThrow(/go together/);
    expect(() => parseBrokerTarget({ url: 'mqtt://h:1', caFile: '/ca', readFile })).toThrow(/mqtts/);
    expect(() => parseBrokerTarget({ url: 'mqtts://h:1', caFile: '/missing', readFile })).toThrow(/ENOENT/);
  });
  it('loads CA, certificate and key for mqtts://', () => {
    const t = parseBrokerTarget({ url: 'mqtts://h:8883', caFile: '/ca', certFile: '/crt', keyFile: '/key', readFile });
    expect(t.tls?.ca?.toString()).toBe('CA');
    expect(t.tls?.key?.toString()).toBe('KEY');
  });
  it('never puts the secret in an error message', () => {
    try {
      parseBrokerTarget({ url: 'http://u:topsecret@h:1' });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).not.toContain('topsecret');
    }
  });
});
