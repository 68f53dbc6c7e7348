import { describe, expect, it } from 'vitest';
import { planChunks } from '../delivery/chunk-plan';
import type { PackageRecord } from '../store/fleet-store';
import { buildOffer, rollbackCommand } from './build-offer';
import { createRolloutState, applyEvent } from './rollout-engine';
import { withDefaults } from './rollout-spec';

const bytes = new Uint8Array(5000).fill(7);
const plan = planChunks(bytes, 2048);
const record = { packageId: 'm@2', name: 'm', version: 2, sha256: plan.sha256, sizeBytes: 5000, manifest: { name: 'm', version: 2 }, signature: { alg: 'ed25519' }, createdAt: 0 } as unknown as PackageRecord;
const ctx = { now: Date.UTC(2026, 0, 1), httpBaseUrl: undefined, tokenSecret: Buffer.alloc(32, 1), tokenTtlMs: 60_000 };

function started(delivery: 'mqtt' | 'http') {
  const s = createRolloutState('r-1', withDefaults({ packageId: 'm@2', target: { devices: ['a', 'b', 'c'] }, delivery }), ['a', 'b', 'c'], ctx.now);
  applyEvent(s, { type: 'start' }, ctx.now);
  return s;
}

describe('build offer', () => {
  it('offers the canary its deployment with the chunk plan of the stored bytes', () => {
    const s = started('mqtt');
    const canary = Object.entries(s.devices).find(([, d]) => d.state === 'offered')![0];
    const o = buildOffer(s, canary, { record, plan }, ctx);
    expect(o).toMatchObject({ deploymentId: `r-1:${canary}`, rolloutId: 'r-1', wave: 'canary', model: { name: 'm', version: 2, sha256: plan.sha256 } });
    expect(o.delivery).toMatchObject({ sizeBytes: 5000, chunkBytes: plan.chunkBytes, prefer: 'mqtt' });
    expect(o.delivery.http).toBeUndefined();
  });

  it('adds a download URL and token for HTTP delivery, and refuses without a base URL', () => {
    const s = started('http');
    const canary = Object.entries(s.devices).find(([, d]) => d.state === 'offered')![0];
    expect(() => buildOffer(s, canary, { record, plan }, ctx)).toThrow(/httpBaseUrl/);
    const o = buildOffer(s, canary, { record, plan }, { ...ctx, httpBaseUrl: 'https://cloud.example' });
    expect(o.delivery.http?.url).toMatch(/^https:\/\/cloud\.example\//);
    expect(o.delivery.http?.expiresAt).toBe(new Date(ctx.now + 60_000).toISOString());
  });

  it('refuses a device that is not in the rollout', () => {
    expect(() => buildOffer(started('mqtt'), 'zz', { record, plan }, ctx)).toThrow(/not in rollout/);
  });

  it('names one rollback command per deployment and bounds the reason', () => {
    const c = rollbackCommand('r-1', 'a', 'x'.repeat(900), ctx.now);
    expect(c).toMatchObject({ type: 'rollback', commandId: 'r-1:a:rollback', deploymentId: 'r-1:a' });
    expect(c.reason).toHaveLength(500);
  });
});
