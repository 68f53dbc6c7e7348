import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgent, type Agent } from '../../edge/agent/create-agent';
import { createLogger } from '../../shared/log/logger';
import { generateSigningKey, trustedKeyEntry } from '../../shared/package';
import { startTestBroker, type TestBroker } from '../edge/helpers/aedes-broker';
import { agentConfigFixture } from '../edge/helpers/agent-fixture';
import { formatConformanceTable, runConformance } from '../../cloud/conformance/run-conformance';

const silent = createLogger('test', process.env.EDGEKD_TEST_LOG ?? 'silent');

describe('the TypeScript edge agent passes edgekd conformance (embedded broker, real onnxruntime)', () => {
  let broker: TestBroker;
  let agent: Agent;
  let fixture: ReturnType<typeof agentConfigFixture>;
  const { key } = generateSigningKey();
  const dev = `conf-ts-${process.pid}`;

  beforeAll(async () => {
    broker = await startTestBroker();
    fixture = agentConfigFixture({
      brokerUrl: broker.url, deviceId: dev, trustedKeys: { schemaVersion: 1, keys: [trustedKeyEntry(key.publicKeyRaw)] },
      extra: { outboxResendIntervalMs: 1_000, download: { chunkTimeoutMs: 500 } },
    });
    agent = createAgent({ config: fixture.config, logger: silent });
    await agent.start();
    await agent.whenConnected();
  });
  afterAll(async () => {
    await agent?.stop();
    await broker?.close();
    fixture?.cleanup();
  });

  it('passes every case', async () => {
    const report = await runConformance({ brokerUrl: broker.url, deviceId: dev, signingKey: key, caseTimeoutMs: 30_000, redeliveryWaitMs: 10_000, heartbeatWaitMs: 5_000 });
    const table = formatConformanceTable(report);
    console.log(table);
    expect(report.results.filter((r) => !r.ok), table).toEqual([]);
    expect(report.results.map((r) => r.id)).toContain('downgraded');
  }, 180_000);
});
