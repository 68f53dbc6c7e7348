import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimulatedFleet, type SimulatedFleet } from '../../edge/sim/fleet';
import { startTestBroker, type TestBroker } from './helpers/aedes-broker';
import { makeOffer, startFakeCloud, type FakeCloud } from './helpers/fake-cloud';
import { mlpPackage, testKey } from './helpers/packages';

describe('fleet simulate: real agents in a few processes', () => {
  let broker: TestBroker;
  let cloud: FakeCloud;
  let fleet: SimulatedFleet | null = null;
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-fleet-test-'));
  afterAll(async () => {
    await fleet?.stop();
    await cloud?.close();
    await broker?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts 6 agents in 2 processes, each with its own connection, and all commit an offered package', async () => {
    const signer = testKey();
    const pkg = mlpPackage({ version: 1, key: signer.key, hidden: 8 });
    writeFileSync(join(dir, 'keys.json'), JSON.stringify(signer.trustedKeys));
    broker = await startTestBroker();
    cloud = await startFakeCloud(broker.url, [pkg]);
    fleet = startSimulatedFleet({
      agents: 6, processes: 2, idPrefix: `fs${process.pid}-`, brokerUrl: broker.url, trustedKeysFile: join(dir, 'keys.json'),
      stateDir: join(dir, 'state'), engine: 'light', protocolVersion: 4, heartbeatIntervalMs: 1000, startConcurrency: 3,
    });
    await fleet.ready();
    await cloud.waitFor(() => new Set(cloud.presences.filter((p) => p.state === 'online').map((p) => p.deviceId)).size === 6);
    expect(new Set(cloud.presences.map((p) => p.deviceId))).toEqual(new Set(fleet.deviceIds));
    for (const id of fleet.deviceIds) await cloud.offer(id, makeOffer(pkg, { deploymentId: `dep-${id}`, chunkBytes: 4096 }));
    await cloud.waitFor(() => fleet!.deviceIds.every((id) => cloud.statesOf(id, `dep-${id}`).includes('committed')), 60_000);
    const s = await fleet.status();
    expect(s).toMatchObject({ agents: 6, connected: 6, byModel: { 'mlp@1': 6 } });
    const activating = cloud.statuses.filter((x) => x.state === 'activating');
    expect(activating.every((x) => x.warmup?.executionProvider === 'light')).toBe(true);
  }, 120_000);
});
