import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveProcessId } from './process-id';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'edgekd-pid-'));
  dirs.push(d);
  return d;
};

describe('cloud process id', () => {
  it('takes --process-id over EDGEKD_PROCESS_ID over the default', () => {
    const dataDir = tmp();
    expect(resolveProcessId({ explicit: 'api-1', env: { EDGEKD_PROCESS_ID: 'env-1' }, dataDir, sharedStore: true })).toBe('api-1');
    expect(resolveProcessId({ env: { EDGEKD_PROCESS_ID: 'env-1' }, dataDir, sharedStore: true })).toBe('env-1');
  });
  it('rejects an id that cannot be an MQTT client id suffix, with a typed error', () => {
    expect(() => resolveProcessId({ explicit: 'a b/#', env: {}, dataDir: tmp(), sharedStore: true })).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
    expect(() => resolveProcessId({ env: { EDGEKD_PROCESS_ID: '+' }, dataDir: tmp(), sharedStore: true })).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
  });
  it('keeps one id across restarts on SQLite, and a fresh one per start on a shared store', () => {
    const dataDir = tmp();
    const first = resolveProcessId({ env: {}, dataDir, sharedStore: false });
    expect(resolveProcessId({ env: {}, dataDir, sharedStore: false })).toBe(first);
    expect(readFileSync(join(dataDir, 'process-id'), 'utf8').trim()).toBe(first);
    const a = resolveProcessId({ env: {}, dataDir, sharedStore: true });
    const b = resolveProcessId({ env: {}, dataDir, sharedStore: true });
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*-[0-9a-f]{8}$/);
  });
});
