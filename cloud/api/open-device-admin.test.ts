import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDeviceAdmin } from './open-device-admin';

const dir = mkdtempSync(join(tmpdir(), 'edgekd-open-admin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openDeviceAdmin', () => {
  it('refuses to create a store unless asked (a mistyped --data is not a new empty cloud), then opens the one made', async () => {
    const db = `sqlite:${join(dir, 'cloud.db')}`;
    await expect(openDeviceAdmin({ db, mayCreate: false })).rejects.toMatchObject({ code: 'EDGEKD_NOT_FOUND' });
    const first = await openDeviceAdmin({ db, mayCreate: true });
    try {
      expect(first.endsSessions).toBe(false);
      const added = await first.admin.add({ deviceId: 'dev-1', groups: ['line-a'], tags: [] });
      expect(added.username).toBeTruthy();
    } finally {
      await first.close();
    }
    const again = await openDeviceAdmin({ db, mayCreate: false });
    try {
      expect((await again.admin.list()).map((d) => [d.deviceId, d.groups])).toEqual([['dev-1', ['line-a']]]);
    } finally {
      await again.close();
    }
  });

  it('through the API, says that a change also ends a session open now', async () => {
    const r = await openDeviceAdmin({ api: { url: 'http://127.0.0.1:1', token: 't'.repeat(16) } });
    expect(r.endsSessions).toBe(true);
    await r.close();
  });
});
