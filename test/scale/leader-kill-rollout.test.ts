import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SimulatedFleet } from '../../edge/sim/fleet';
import { simulatedDeviceIds } from '../../edge/sim/fleet';
import { describeWithMosquitto, describeWithPostgres } from '../../test/helpers/services';
import { pgSchema } from '../../cloud/scale/postgres-schema.test-helper';
import { runLeaderKill, seedFleet, startAgents, startMultiCloud, type MultiCloud, type OfferLog } from './multi-process.test-helper';

// Runs when both services answer; skipped (or failing, with EDGEKD_REQUIRE_SERVICES=1) otherwise.
const withPg = await describeWithPostgres();
const withMq = await describeWithMosquitto();
const d = withMq === describe ? withPg : withMq;

const AGENTS = 240;

d('kill -9 of the fleet leader in the middle of a rollout (fleet, fleet, worker, api as processes)', () => {
  const pg = pgSchema();
  const prefix = `lk${pg.schema.slice(-6)}-`;
  let cloud: MultiCloud | undefined;
  let agents: SimulatedFleet | undefined;
  let offers: OfferLog | undefined;
  let dir: string | undefined;
  afterAll(async () => {
    await offers?.close();
    await agents?.stop();
    await cloud?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the standby takes over and the rollout completes: every device committed, none failed, none given a second offer', { timeout: 240_000 }, async () => {
    cloud = await startMultiCloud({ schema: pg.schema });
    const deviceIds = simulatedDeviceIds(prefix, AGENTS);
    const seeded = await seedFleet(cloud.db, { deviceIds, group: 'kill-test', packageBytes: 20_000, name: 'kill-model' });
    dir = seeded.dir;
    agents = startAgents({ prefix, agents: AGENTS, processes: 2, trustedKeysFile: seeded.trustedKeysFile, stateDir: join(dir, 'agents') });
    await agents.ready();

    const run = await runLeaderKill({ cloud, prefix, packageId: seeded.packageId, group: 'kill-test', agents: AGENTS, timeoutMs: 150_000, killAfterCommitted: 30 });
    offers = run.offers;
    console.log(
      `leader killed ${run.leaderKilledAtSeconds.toFixed(1)} s into the rollout with ${run.committedAtKill}/${AGENTS} committed; ` +
        `takeover ${run.takeoverSeconds.toFixed(1)} s later; all committed at ${run.allCommittedSeconds?.toFixed(1) ?? '—'} s`,
    );

    // The killed leader was mid-wave, the standby took the lease with the next token.
    expect(run.committedAtKill).toBeLessThan(AGENTS);
    expect(run.newLeader.holder).not.toBe(run.oldLeader.holder);
    expect(run.newLeader.token).toBe(run.oldLeader.token + 1);
    // The rollout completed with every device committed and none failed.
    expect({ status: run.status, committed: run.committed, failed: run.failed }).toEqual({ status: 'completed', committed: AGENTS, failed: 0 });
    expect((await agents.status()).byModel).toEqual({ 'kill-model@1': AGENTS });

    // Broker side: each device was offered exactly one deployment, with one offer document; the
    // new leader re-publishes in-flight offers on takeover, but the same document (same
    // deployment id and issue time), which an agent acts on once.
    const byDevice = run.offers.byDevice();
    expect([...byDevice.keys()].sort()).toEqual([...deviceIds].sort());
    const rolloutIds = new Set<string>();
    for (const [deviceId, s] of byDevice) {
      expect({ deviceId, deployments: s.deployments.size, documents: s.payloads.size }).toEqual({ deviceId, deployments: 1, documents: 1 });
      rolloutIds.add([...s.deployments][0]!.split(':')[0]!);
      expect([...s.deployments][0]).toBe(`${[...rolloutIds][0]}:${deviceId}`);
    }
    expect(rolloutIds.size).toBe(1);
    const resent = [...byDevice.values()].filter((s) => s.publications > 1).length;
    console.log(`offers: ${AGENTS} devices, one document each; ${resent} re-published by the new leader (in flight at the kill)`);
  });
});
