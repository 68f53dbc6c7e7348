import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunningCloud } from '../../cloud/api/start-cloud';
import { startDemoAgent, type DemoAgent } from '../../cloud/demo/demo-agents';
import { parseSigningKeyFile, signingKeyFromFile } from '../../shared/package/keys';
import { buildFixturePackage } from '../../shared/package/testing/tiny-models';

export interface ConsoleFleet {
  readonly deviceIds: string[];
  readonly group: string;
  readonly packageId: string;
  close(): Promise<void>;
}

/**
 * Three real edge agent processes (onnxruntime inference) provisioned on the cloud, and a small
 * signed package to roll out. The package is the shared tiny-conv fixture signed with the cloud's
 * own key: the console test checks that a rollout is shown committing, not what the model learnt
 * (the distillation half of the test and the demo cover the real student).
 */
export async function startConsoleFleet(cloud: RunningCloud, dir: string): Promise<ConsoleFleet> {
  const fleet = cloud.fleet;
  if (!fleet || !cloud.brokerUrl) throw new Error('the cloud was started without its fleet');
  const key = signingKeyFromFile(parseSigningKeyFile.parse(JSON.parse(readFileSync(cloud.keyFile, 'utf8'))));
  const { pkg } = buildFixturePackage({ name: 'console-fixture', version: 1, key });
  const record = await fleet.registerPackage(pkg);
  const trustedKeysJson = JSON.stringify(await fleet.trustedKeys());
  const agents: DemoAgent[] = [];
  const group = 'console-test';
  for (let i = 1; i <= 3; i++) {
    const deviceId = `console-agent-${i}`;
    const dev = await fleet.provisionDevice({ deviceId, groups: [group] });
    agents.push(await startDemoAgent({ dir: join(dir, 'agents'), deviceId, brokerUrl: cloud.brokerUrl, username: dev.username, password: dev.password, trustedKeysJson }));
  }
  return {
    deviceIds: agents.map((a) => a.deviceId),
    group,
    packageId: record.packageId,
    async close() {
      await Promise.all(agents.map((a) => a.stop()));
    },
  };
}
