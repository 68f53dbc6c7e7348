import { afterAll, describe, expect, it } from 'vitest';
import { createAgent, type Agent } from '../../edge/agent/create-agent';
import { createLogger } from '../../shared/log/logger';
import { startTestBroker, type TestBroker } from './helpers/aedes-broker';
import { makeOffer, startFakeCloud, type FakeCloud } from './helpers/fake-cloud';
import { agentConfigFixture } from './helpers/agent-fixture';
import { mlpPackage, testKey } from './helpers/packages';

describe('broker restart mid-download (aedes loses every session and retained message)', () => {
  let broker: TestBroker;
  let cloud: FakeCloud;
  let agent: Agent;
  let fixture: ReturnType<typeof agentConfigFixture>;
  afterAll(async () => {
    await agent?.stop();
    await cloud?.close();
    await broker?.close();
    fixture?.cleanup();
  });

  it('reconnects with a new session sequence, resubscribes, finishes the download and delivers every report once', async () => {
    const signer = testKey();
    const pkg = mlpPackage({ version: 1, key: signer.key, hidden: 32 });
    broker = await startTestBroker();
    const port = broker.port;
    cloud = await startFakeCloud(broker.url, [pkg]);
    const dev = 'dev-restart-1';
    fixture = agentConfigFixture({ brokerUrl: broker.url, deviceId: dev, trustedKeys: signer.trustedKeys, extra: { download: { chunkTimeoutMs: 300, windowChunks: 1 } } });
    agent = createAgent({ config: fixture.config, logger: createLogger('test', 'silent') });
    await agent.start();
    await agent.whenConnected();

    const offer = makeOffer(pkg, { deploymentId: 'dep-restart', chunkBytes: 4096 });
    await cloud.offer(dev, offer);
    await cloud.waitFor(() => cloud.chunkRequests.filter((c) => c.deviceId === dev).length >= 3);
    cloud.setServing(false);

    await broker.close();
    await new Promise((r) => setTimeout(r, 500));
    broker = await startTestBroker(port);
    // The retained offer died with the broker; a real cloud republishes its desired state on reconnect.
    await cloud.waitFor(() => cloud.presences.some((p) => p.deviceId === dev && p.state === 'online' && p.sessionSeq >= 2), 20_000);
    cloud.setServing(true);
    await cloud.offer(dev, offer);

    await cloud.waitFor(() => cloud.statesOf(dev, 'dep-restart').includes('committed'), 30_000);
    expect(cloud.statesOf(dev, 'dep-restart')).toEqual(['offered', 'downloading', 'verifying', 'staging', 'warming', 'activating', 'baking', 'committed']);
    const births = cloud.presences.filter((p) => p.deviceId === dev && p.state === 'online');
    expect(births[0]!.sessionSeq).toBe(1);
    expect(births.at(-1)!.sessionSeq).toBeGreaterThanOrEqual(2);
    expect(new Set(births.map((b) => b.bootId)).size).toBe(1);
    await cloud.waitFor(() => agent.status().outboxPending === 0, 10_000);
    expect(agent.status().activeModel?.version).toBe(1);
  }, 90_000);
});
