import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { describeWithMosquitto } from '../helpers/services';
import { fleetWorld, inferBody, until, type FleetWorld, AGENT_START_MS, E2E_TIMEOUT_MS } from './helpers/fleet-world';

/**
 * A staged rollout (canary, then a wave of two) to three real agent processes that run the model
 * in onnxruntime: every agent commits and then answers inference with the new version. Runs on the
 * embedded broker with device authentication, on the shared Mosquitto (127.0.0.1:1883), and on a
 * Mosquitto started with deploy/mosquitto (per-device credentials, ACL, MQTT 5 for the cloud).
 */
function suite(broker: 'embedded' | 'mosquitto' | 'mosquitto-deploy', d: typeof describe | typeof describe.skip): void {
  d(`rollout to three agent processes (${broker})`, () => {
    let w: FleetWorld;
    afterAll(async () => w?.close());

    it('commits on every agent, canary first, and the agents serve the new model', async () => {
      w = await fleetWorld({ agents: 3, broker });
      const v1 = await w.register(w.makePackage(1));
      await until(async () => (await w.cloud.listDevices()).filter((x) => x.presence === 'online').length === 3, AGENT_START_MS, 'three agents online');
      const r = await w.cloud.createRollout({ packageId: v1, target: { groups: ['lab'] }, bakeMs: 200, activation: { warmupRuns: 2, bakeMs: 200 } });
      expect(r.waves.map((x) => x.devices)).toEqual([1, 2]);
      const done = await w.waitStatus(r.id, ['completed', 'rolled_back', 'failed'], 60_000);
      expect(done.status).toBe('completed');
      expect(done.counts.committed).toBe(3);
      // The canary committed before the second wave was offered.
      const st = (await w.cloud.getRolloutState(r.id))!;
      const canary = st.waves[0]!.deviceIds[0]!;
      const wave1Offered = Math.min(...st.waves[1]!.deviceIds.map((id) => st.devices[id]!.offeredAt!));
      expect(st.devices[canary]!.finishedAt!).toBeLessThanOrEqual(wave1Offered);
      for (const a of w.agents) {
        const res = await a.infer(inferBody(w.features));
        expect(res.status).toBe(200);
        const result = res.json.result as { model: { version: number }; topK: Array<Array<{ probability: number }>>; executionProvider: string };
        expect(result.model.version).toBe(1);
        expect(result.executionProvider).toBe('cpu');
        expect(result.topK[0]!.length).toBe(2);
      }
    }, E2E_TIMEOUT_MS);
  });
}

suite('embedded', describe);
suite('mosquitto', await describeWithMosquitto());
// Mosquitto started from deploy/mosquitto: per-device passwords (mosquitto_passwd) and the ACL.
suite('mosquitto-deploy', hasMosquittoBinary() ? describe : describe.skip);

function hasMosquittoBinary(): boolean {
  try {
    execFileSync('which', ['mosquitto', 'mosquitto_passwd'], { stdio: 'ignore' });
    return true;
  } catch {
    if (process.env.EDGEKD_REQUIRE_SERVICES === '1') throw new Error('the mosquitto binary is required (EDGEKD_REQUIRE_SERVICES=1)');
    return false;
  }
}
