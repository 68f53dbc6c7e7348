import { afterAll, describe, expect, it } from 'vitest';
import { fleetWorld, until, type FleetWorld, AGENT_START_MS, E2E_TIMEOUT_MS } from './helpers/fleet-world';

/**
 * The rollout's bandwidth cap stretches a 200 KB download over seconds; the agent is killed with
 * SIGKILL mid-download, started again, resumes from the chunks it has and commits. The cloud
 * served clearly less than two full copies.
 */
describe('an agent killed mid-download', () => {
  let w: FleetWorld;
  afterAll(async () => w?.close());

  it('resumes where it stopped after a restart', async () => {
    w = await fleetWorld({ agents: 1 });
    const pkg = w.makePackage(1);
    const id = await w.register(pkg);
    const [agent] = w.agents;
    await until(async () => (await w.cloud.getDevice(agent!.deviceId))?.presence === 'online', AGENT_START_MS, 'agent online');
    const size = pkg.model.byteLength;
    const r = await w.cloud.createRollout({ packageId: id, target: { devices: [agent!.deviceId] }, bakeMs: 0, bandwidthBytesPerSecond: 40_000 });
    await until(() => w.cloud.stats().chunkBytesServed >= size * 0.4, 20_000, 'part of the file delivered');
    await agent!.kill('SIGKILL');
    const servedAtKill = w.cloud.stats().chunkBytesServed;
    expect(servedAtKill).toBeLessThan(size);
    await agent!.start();
    const end = await w.waitStatus(r.id, ['completed', 'rolled_back', 'failed'], 60_000);
    expect(end.status).toBe('completed');
    const served = w.cloud.stats().chunkBytesServed;
    expect(served).toBeLessThan(size * 1.5); // resumed, not started over
    const reports = await w.cloud.store.reportsAfter(r.id, 0);
    expect(reports.some((x) => (x.body as { resumed?: boolean }).resumed === true)).toBe(true);
  }, E2E_TIMEOUT_MS);
});
