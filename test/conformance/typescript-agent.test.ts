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

describe('edgekd conformance fails a device that does not follow the protocol', () => {
  let broker: TestBroker;
  let agent: Agent;
  let fixture: ReturnType<typeof agentConfigFixture>;
  const dev = `conf-ts-untrusting-${process.pid}`;

  beforeAll(async () => {
    broker = await startTestBroker();
    // This device trusts another key than the runner signs with, so it refuses every good package.
    fixture = agentConfigFixture({ brokerUrl: broker.url, deviceId: dev, trustedKeys: { schemaVersion: 1, keys: [trustedKeyEntry(generateSigningKey().key.publicKeyRaw)] } });
    agent = createAgent({ config: fixture.config, logger: silent });
    await agent.start();
    await agent.whenConnected();
  });
  afterAll(async () => {
    await agent?.stop();
    await broker?.close();
    fixture?.cleanup();
  });

  it('reports the install and the upgrade as failed, with the reason', async () => {
    const report = await runConformance({ brokerUrl: broker.url, deviceId: dev, signingKey: generateSigningKey().key, caseTimeoutMs: 10_000, redeliveryWaitMs: 10_000, heartbeatWaitMs: 5_000 });
    expect(report.ok).toBe(false);
    const byId = new Map(report.results.map((r) => [r.id, r]));
    expect(byId.get('birth')).toMatchObject({ ok: false, detail: expect.stringContaining("not the runner's key") });
    expect(byId.get('install')).toMatchObject({ ok: false, detail: expect.stringContaining('ended rejected (EDGEKD_KEY_UNTRUSTED') });
    expect(byId.get('upgrade-shadow')?.ok).toBe(false);
    expect(byId.get('rollback')?.ok).toBe(false);
    expect(formatConformanceTable(report)).toMatch(/NOT conformant/);
  }, 120_000);
});
