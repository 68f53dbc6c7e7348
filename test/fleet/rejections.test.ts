import { afterAll, describe, expect, it } from 'vitest';
import { signDowngrade } from '../../shared/package/downgrade-intent';
import type { RolloutRequest } from '../../cloud/fleet/rollout/rollout-spec';
import { fleetWorld, until, type FleetWorld, AGENT_START_MS, E2E_TIMEOUT_MS } from './helpers/fleet-world';

/**
 * The agent does not trust the cloud: a model whose stored bytes were altered after signing, a
 * manifest whose signature does not verify, and an older version are each refused on the device
 * with their own error code, and the rollout rolls back. An older version goes through only with a
 * signed downgrade statement; the offer's allowDowngrade flag alone is refused. The bad packages are written straight
 * into the cloud's store (the cloud itself would refuse to register them).
 */
describe('packages the agent must refuse', () => {
  let w: FleetWorld;
  afterAll(async () => w?.close());

  async function rolloutTo(packageId: string, extra: Partial<RolloutRequest> = {}): Promise<{ state: string; errorCode?: string }> {
    const r = await w.cloud.createRollout({ packageId, target: { groups: ['lab'] }, bakeMs: 0, ...extra });
    await w.waitStatus(r.id, ['completed', 'rolled_back', 'failed', 'aborted'], 60_000);
    const st = (await w.cloud.getRolloutState(r.id))!;
    const d = st.devices[st.waves[0]!.deviceIds[0]!]!;
    return { state: d.state, ...(d.errorCode ? { errorCode: d.errorCode } : {}) };
  }

  it('rejects a tampered model, a bad signature and a downgrade, each with its own code', async () => {
    w = await fleetWorld({ agents: 1 });
    await until(async () => (await w.cloud.listDevices()).every((d) => d.presence === 'online'), AGENT_START_MS, 'agent online');
    const v2 = await w.register(w.makePackage(2, 20_000));
    expect((await rolloutTo(v2)).state).toBe('committed');

    // Tampered: registered correctly, then the stored bytes change (same size).
    const p3 = w.makePackage(3, 20_000);
    const v3 = await w.register(p3);
    const tampered = new Uint8Array(p3.model);
    tampered[tampered.length - 10] ^= 0xff;
    await w.db.exec('UPDATE fleet_packages SET model = ? WHERE package_id = ?', [tampered, v3]);
    expect(await rolloutTo(v3)).toEqual({ state: 'failed', errorCode: 'EDGEKD_HASH_MISMATCH' });

    // Bad signature: the manifest was edited after signing (its labels), the signature kept.
    const p4 = w.makePackage(4, 20_000);
    const edited = { ...p4.manifest, labels: p4.manifest.labels.map((l) => `${l}-x`) };
    await w.cloud.store.insertPackage({
      packageId: 'fleet-model@4', name: 'fleet-model', version: 4, sha256: p4.manifest.model.sha256, sizeBytes: p4.model.byteLength,
      manifest: edited as unknown as Record<string, unknown>, signature: p4.signature as unknown as Record<string, unknown>, createdAt: Date.now(), model: p4.model,
    });
    expect(await rolloutTo('fleet-model@4')).toEqual({ state: 'rejected', errorCode: 'EDGEKD_SIGNATURE_INVALID' });

    // Downgrade: a valid v1 while v2 serves.
    const p1 = w.makePackage(1, 20_000);
    const v1 = await w.register(p1);
    expect(await rolloutTo(v1)).toEqual({ state: 'rejected', errorCode: 'EDGEKD_DOWNGRADE_REJECTED' });
    // The offer flag alone (what anyone able to publish an offer could set) is refused with its own code.
    expect(await rolloutTo(v1, { allowDowngrade: true })).toEqual({ state: 'rejected', errorCode: 'EDGEKD_DOWNGRADE_UNAUTHORIZED' });
    // A statement signed by the trusted key for this build and device lets it through.
    const deviceId = w.agents[0]!.deviceId;
    const downgrade = signDowngrade({ model: { name: 'fleet-model', version: 1, sha256: p1.manifest.model.sha256 }, devices: [deviceId], validForMs: 3_600_000 }, w.key);
    expect((await rolloutTo(v1, { downgrade })).state).toBe('committed');
  }, E2E_TIMEOUT_MS);
});
