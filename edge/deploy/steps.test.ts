import { describe, expect, it } from 'vitest';
import type { DeploymentState, Offer } from '../../shared/protocol';
import type { DeploymentRecord } from './deployment-record';
import { failureOutcome, planStep, stepTimeoutMs, successor, type PlanEnv } from './steps';

const sha = 'b'.repeat(64);
const baseOffer: Offer = {
  schema: 'edgekd.offer/1', deploymentId: 'd1', rolloutId: 'r1', issuedAt: '2026-11-28T15:00:00.000Z',
  model: { name: 'm', version: 2, sha256: sha }, manifest: {}, signature: { algorithm: 'Ed25519', keyId: 'k', signature: 's' },
  delivery: { sizeBytes: 10, sha256: sha, chunkBytes: 1024, chunkSha256: [sha] },
};
const env: PlanEnv = { inactiveSlot: 'b', hasActiveModel: true, defaultWarmupRuns: 3, nowMs: 1000 };
const rec = (state: DeploymentState, offer: Offer = baseOffer, extra: Partial<DeploymentRecord> = {}): DeploymentRecord => ({
  deploymentId: 'd1', offer, state, enteredAtMs: 0, bakeRestarts: 0, ...extra,
});
const timeouts = { downloadingMs: 100, verifyingMs: 200, stagingMs: 300, warmingMs: 400, shadowSlackMs: 50, activatingMs: 600, bakingSlackMs: 70 };

describe('deployment plan', () => {
  it.each([
    ['offered', 'preflight'],
    ['downloading', 'download'],
    ['verifying', 'verify'],
    ['staging', 'stage'],
    ['warming', 'warm'],
    ['shadow', 'shadow'],
    ['activating', 'activate'],
    ['baking', 'bake'],
    ['committed', null],
    ['rolled_back', null],
    ['failed', null],
    ['rejected', null],
  ] as const)('plans %s → %s', (state, action) => {
    expect(planStep(rec(state), env)?.action ?? null).toBe(action);
  });

  it('stages into the inactive slot unless the record already chose one', () => {
    expect(planStep(rec('staging'), env)).toMatchObject({ action: 'stage', slot: 'b' });
    expect(planStep(rec('staging', baseOffer, { slot: 'a' }), env)).toMatchObject({ slot: 'a' });
  });

  it('downloads over HTTP only when the offer carries a URL and prefers it', () => {
    const http = { url: 'https://x/m', token: 't' };
    expect(planStep(rec('downloading', { ...baseOffer, delivery: { ...baseOffer.delivery, http } }), env)).toMatchObject({ transport: 'mqtt' });
    expect(planStep(rec('downloading', { ...baseOffer, delivery: { ...baseOffer.delivery, http, prefer: 'http' } }), env)).toMatchObject({ transport: 'http' });
  });

  it('takes warm-up runs and bake time from the offer, defaults otherwise, and resumes a bake from its start', () => {
    expect(planStep(rec('warming'), env)).toMatchObject({ runs: 3 });
    const o = { ...baseOffer, activation: { warmupRuns: 7, bakeMs: 5000 } };
    expect(planStep(rec('warming', o), env)).toMatchObject({ runs: 7 });
    expect(planStep(rec('baking', o, { bakeStartedAtMs: 400 }), env)).toMatchObject({ bakeMs: 5000, startedAtMs: 400 });
  });
});

describe('deployment transitions', () => {
  const shadowOffer = { ...baseOffer, activation: { shadow: { inferences: 10 } } };
  it.each([
    ['offered', baseOffer, true, 'downloading'],
    ['downloading', baseOffer, true, 'verifying'],
    ['verifying', baseOffer, true, 'staging'],
    ['staging', baseOffer, true, 'warming'],
    ['warming', baseOffer, true, 'activating'],
    ['warming', shadowOffer, true, 'shadow'],
    ['warming', shadowOffer, false, 'activating'], // nothing active to compare with
    ['shadow', shadowOffer, true, 'activating'],
    ['activating', baseOffer, true, 'baking'],
    ['baking', baseOffer, true, 'committed'],
  ] as const)('after %s succeeds (shadow offer: %#) goes to the right state', (state, offer, hasActive, next) => {
    expect(successor(state, offer, { hasActiveModel: hasActive })).toBe(next);
  });

  it.each([
    ['offered', 'rejected', false],
    ['downloading', 'failed', false],
    ['verifying', 'failed', false],
    ['staging', 'failed', false],
    ['warming', 'failed', false],
    ['shadow', 'failed', false],
    ['activating', 'rolled_back', true],
    ['baking', 'rolled_back', true],
  ] as const)('a failure in %s ends %s (rollback step: %s)', (state, terminal, needsRollBack) => {
    expect(failureOutcome(state)).toEqual({ terminal, needsRollBack });
  });

  it('gives every step a deadline, from the offer first, then configuration', () => {
    const offerWithTimeouts = { ...baseOffer, timeoutsMs: { downloading: 9 }, activation: { bakeMs: 1000, shadow: { inferences: 1, maxWaitMs: 500 } } };
    expect(stepTimeoutMs(planStep(rec('downloading', offerWithTimeouts), env)!, timeouts)).toBe(9);
    expect(stepTimeoutMs(planStep(rec('verifying'), env)!, timeouts)).toBe(200);
    expect(stepTimeoutMs(planStep(rec('shadow', offerWithTimeouts), env)!, timeouts)).toBe(550);
    expect(stepTimeoutMs(planStep(rec('baking', offerWithTimeouts), env)!, timeouts)).toBe(1070);
    for (const s of ['offered', 'downloading', 'verifying', 'staging', 'warming', 'shadow', 'activating', 'baking'] as const) {
      expect(stepTimeoutMs(planStep(rec(s), env)!, timeouts)).toBeGreaterThan(0);
    }
  });
});
