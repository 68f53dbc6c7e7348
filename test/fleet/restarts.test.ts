import { afterAll, describe, expect, it } from 'vitest';
import { fleetWorld, until, type FleetWorld, AGENT_START_MS, E2E_TIMEOUT_MS } from './helpers/fleet-world';

/** Infrastructure restarts in the middle of a rollout to real agents: nothing is lost, the rollout completes. */
describe('restarts mid-rollout', () => {
  const worlds: FleetWorld[] = [];
  afterAll(async () => {
    for (const w of worlds) await w.close();
  });

  it('survives a broker restart during the download', async () => {
    const w = await fleetWorld({ agents: 2 });
    worlds.push(w);
    const id = await w.register(w.makePackage(1));
    await until(async () => (await w.cloud.listDevices()).every((d) => d.presence === 'online'), AGENT_START_MS, 'agents online');
    const r = await w.cloud.createRollout({ packageId: id, target: { groups: ['lab'] }, bakeMs: 0, bandwidthBytesPerSecond: 100_000, waves: { canaryDevices: 0, firstWaveDevices: 2 } });
    await until(() => w.cloud.stats().chunksServed >= 2, 20_000, 'download under way');
    await w.restartBroker(800);
    const end = await w.waitStatus(r.id, ['completed', 'rolled_back', 'failed'], 60_000);
    expect(end.status).toBe('completed');
    expect(end.counts.committed).toBe(2);
  }, E2E_TIMEOUT_MS);

  it('survives a cloud restart mid-rollout (between waves) and resumes from the store', async () => {
    const w = await fleetWorld({ agents: 3 });
    worlds.push(w);
    const id = await w.register(w.makePackage(1, 20_000));
    await until(async () => (await w.cloud.listDevices()).every((d) => d.presence === 'online'), AGENT_START_MS, 'agents online');
    const r = await w.cloud.createRollout({ packageId: id, target: { groups: ['lab'] }, bakeMs: 1_500 });
    await until(async () => (await w.cloud.getRollout(r.id))?.waves[0]?.phase === 'baking', 30_000, 'canary baking');
    await w.cloud.close();
    await new Promise((res) => setTimeout(res, 500));
    const cloud = await w.restartCloud();
    expect((await cloud.getRollout(r.id))?.status).toBe('running');
    const end = await w.waitStatus(r.id, ['completed', 'rolled_back', 'failed'], 60_000);
    expect(end.status).toBe('completed');
    expect(end.counts.committed).toBe(3);
  }, E2E_TIMEOUT_MS);
});
