import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCloud, type RunningCloud } from '../api/start-cloud';

const silent = { logLevel: 'silent', jobEnv: { EDGEKD_LOG_LEVEL: 'warn' } } as const;

describe('edgekd cloud on SQLite (one process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-roles-'));
  const running: RunningCloud[] = [];
  afterAll(async () => {
    for (const c of running) await c.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a second process on the same SQLite file, naming the first, and starts once the first stopped', async () => {
    const first = await startCloud({ dataDir: dir, port: 0, brokerPort: 0, processId: 'first-proc', ...silent });
    running.push(first);
    expect(first.role).toBe('all');
    expect(first.fleet).not.toBeNull();
    // Without --download-url, HTTP delivery is named as absent at start (edgekd cloud prints it).
    expect(first.absent['http delivery']).toMatch(/--download-url/);
    await expect(startCloud({ dataDir: dir, port: 0, brokerPort: 0, processId: 'second-proc', ...silent })).rejects.toMatchObject({
      code: 'EDGEKD_LEADER_HELD',
      message: expect.stringMatching(/'first-proc' already runs the fleet role on this SQLite file/),
    });
    await running.pop()!.close(); // releases the lease
    const second = await startCloud({ dataDir: dir, port: 0, brokerPort: 0, processId: 'second-proc', ...silent });
    running.push(second);
    expect(second.processId).toBe('second-proc');
  });

  it('allows only --role all with the embedded broker, and says why', async () => {
    await expect(startCloud({ dataDir: join(dir, 'other'), port: 0, brokerPort: 0, role: 'worker', ...silent })).rejects.toMatchObject({ code: 'EDGEKD_ROLE_UNSUPPORTED' });
    await expect(startCloud({ dataDir: join(dir, 'other'), port: 0, brokerPort: 0, role: 'ingest', ...silent })).rejects.toMatchObject({
      code: 'EDGEKD_ROLE_UNSUPPORTED',
      message: expect.stringMatching(/--role ingest needs PostgreSQL .*serves one cloud process, run it with --role all/),
    });
  });
});
