import { afterAll, describe, expect, it } from 'vitest';
import { createAgent, type Agent } from '../../edge/agent/create-agent';
import { createLogger } from '../../shared/log/logger';
import { startTestBroker, type TestBroker } from './helpers/aedes-broker';
import { makeOffer, startFakeCloud, type FakeCloud } from './helpers/fake-cloud';
import { agentConfigFixture } from './helpers/agent-fixture';
import { mlpPackage, testKey } from './helpers/packages';

describe('restarts during a bake', () => {
  let broker: TestBroker;
  let cloud: FakeCloud;
  let agent: Agent | null = null;
  let fixture: ReturnType<typeof agentConfigFixture>;
  afterAll(async () => {
    await agent?.stop();
    await cloud?.close();
    await broker?.close();
    fixture?.cleanup();
  });
  const start = async (): Promise<Agent> => {
    const a = createAgent({ config: fixture.config, logger: createLogger('test', process.env.EDGEKD_TEST_LOG ?? 'silent') });
    await a.start();
    await a.whenConnected();
    return a;
  };

  it('resumes the bake after one restart and rolls back after the second (crash loop), serving the previous model throughout', async () => {
    const signer = testKey();
    const v1 = mlpPackage({ version: 1, key: signer.key, hidden: 4 });
    const v2 = mlpPackage({ version: 2, key: signer.key, hidden: 4, seed: 3 });
    broker = await startTestBroker();
    cloud = await startFakeCloud(broker.url, [v1, v2]);
    const dev = 'dev-bake-restart';
    fixture = agentConfigFixture({ brokerUrl: broker.url, deviceId: dev, trustedKeys: signer.trustedKeys });
    agent = await start();
    await cloud.offer(dev, makeOffer(v1, { deploymentId: 'b-v1' }));
    await cloud.waitFor(() => cloud.statesOf(dev, 'b-v1').includes('committed'));
    await cloud.offer(dev, makeOffer(v2, { deploymentId: 'b-v2', activation: { bakeMs: 60_000 } }));
    await cloud.waitFor(() => cloud.statesOf(dev, 'b-v2').includes('baking'));

    await agent.stop(); // first restart: the bake resumes with the new model serving
    agent = await start();
    expect(agent.status().activeModel?.version).toBe(2);
    await cloud.waitFor(() => cloud.statuses.find((s) => s.deploymentId === 'b-v2' && s.state === 'baking' && s.resumed));
    expect(cloud.statesOf(dev, 'b-v2')).not.toContain('rolled_back');

    await agent.stop(); // second restart inside the same bake: treated as a crash loop
    agent = await start();
    const r = await cloud.waitFor(() => cloud.statuses.find((s) => s.deploymentId === 'b-v2' && s.state === 'rolled_back'));
    expect(r.error?.message).toMatch(/restarted 2 times during the bake/);
    expect(agent.status().activeModel?.version).toBe(1);
    expect(cloud.duplicates).toBe(0);
  }, 90_000);
});
