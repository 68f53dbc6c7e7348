import { afterAll, describe, expect, it } from 'vitest';
import { buildSignedPackage } from '../../shared/package/build-package';
import { fleetWorld, inferBody, until, type FleetWorld, AGENT_START_MS, E2E_TIMEOUT_MS } from './helpers/fleet-world';

/**
 * v1 runs on three agents; v2 is validly signed but its model cannot be loaded by onnxruntime.
 * The canary fails, the rollout rolls back on its own, nobody else is offered v2, and the canary
 * keeps serving v1.
 */
describe('a failing canary', () => {
  let w: FleetWorld;
  afterAll(async () => w?.close());

  it('rolls the rollout back automatically and leaves the fleet on the previous model', async () => {
    w = await fleetWorld({ agents: 3 });
    const v1 = await w.register(w.makePackage(1, 20_000));
    await until(async () => (await w.cloud.listDevices()).filter((x) => x.presence === 'online').length === 3, AGENT_START_MS, 'agents online');
    const first = await w.cloud.createRollout({ packageId: v1, target: { groups: ['lab'] }, bakeMs: 0, waves: { canaryDevices: 0, firstWaveDevices: 3 } });
    expect((await w.waitStatus(first.id, ['completed', 'rolled_back', 'failed'], 60_000)).status).toBe('completed');

    const good = w.makePackage(2, 20_000);
    const garbage = new Uint8Array(20_000).map((_, i) => (i * 31 + 7) & 0xff); // not an ONNX protobuf
    const broken = buildSignedPackage({ ...good.manifest, version: 2 }, garbage, w.key);
    const v2 = await w.register(broken);
    const r = await w.cloud.createRollout({ packageId: v2, target: { groups: ['lab'] }, bakeMs: 0 });
    const end = await w.waitStatus(r.id, ['completed', 'rolled_back', 'failed', 'aborted'], 60_000);
    expect(end.status).toBe('rolled_back');
    const st = (await w.cloud.getRolloutState(r.id))!;
    const canary = st.waves[0]!.deviceIds[0]!;
    expect(st.devices[canary]!.state).toBe('failed');
    expect(st.devices[canary]!.errorCode).toMatch(/^EDGEKD_/);
    expect(Object.values(st.devices).filter((d) => d.state === 'skipped')).toHaveLength(2);
    for (const a of w.agents) {
      const res = await a.infer(inferBody(w.features));
      expect((res.json.result as { model: { version: number } }).model.version).toBe(1);
    }
  }, E2E_TIMEOUT_MS);
});
