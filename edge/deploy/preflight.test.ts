import { describe, expect, it } from 'vitest';
import { isEdgekdError } from '../../shared/errors';
import { buildFixturePackage } from '../../shared/package/testing/tiny-models';
import type { ModelRef, Offer } from '../../shared/protocol';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { compareSemver, preflightCheck, type PreflightEnv } from './preflight';
import { signDowngrade } from '../../shared/package/downgrade-intent';
import { generateSigningKey } from '../../shared/package/keys';
import type { SignedDowngrade } from '../../shared/protocol/messages/downgrade';

const fx = buildFixturePackage({ name: 'pf', version: 3 });
function offerFor(pkg = fx.pkg): Offer {
  return {
    schema: 'edgekd.offer/1', deploymentId: 'd', rolloutId: 'r', issuedAt: new Date().toISOString(),
    model: { name: pkg.manifest.name, version: pkg.manifest.version, sha256: pkg.manifest.model.sha256 },
    manifest: pkg.manifest as unknown as Record<string, unknown>, signature: pkg.signature,
    delivery: { sizeBytes: pkg.model.length, sha256: pkg.manifest.model.sha256, chunkBytes: 1024, chunkSha256: [createHash('sha256').update(pkg.model).digest('hex')] },
  };
}
const env: PreflightEnv = { trustedKeys: fx.trustedKeys, activeModel: null, runtimeVersion: '1.30.0', maxOpset: 23, maxModelBytes: 1 << 20, diskFreeBytes: 1 << 30, now: new Date(), deviceId: 'cam-1', groups: ['lab'] };

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'accepted';
  } catch (e) {
    return isEdgekdError(e) ? e.code : 'untyped';
  }
}

describe('preflight (before any download)', () => {
  it('accepts a signed, compatible, newer model', () => {
    expect(preflightCheck(offerFor(), env).version).toBe(3);
  });

  it.each<[string, () => Offer, Partial<PreflightEnv>, string]>([
    ['a manifest that fails its schema', () => ({ ...offerFor(), manifest: { name: 'x' } }), {}, 'EDGEKD_PACKAGE_INVALID'],
    ['an offer whose model summary disagrees with the manifest', () => ({ ...offerFor(), model: { ...offerFor().model, version: 4 } }), {}, 'EDGEKD_PACKAGE_INVALID'],
    ['a delivery size that disagrees with the manifest', () => ({ ...offerFor(), delivery: { ...offerFor().delivery, sizeBytes: 5 } }), {}, 'EDGEKD_PACKAGE_INVALID'],
    ['an untrusted key', () => offerFor(), { trustedKeys: { schemaVersion: 1, keys: [] } }, 'EDGEKD_KEY_UNTRUSTED'],
    ['an altered manifest', () => ({ ...offerFor(), manifest: { ...(fx.pkg.manifest as object), labels: ['x', 'y', 'z'] } }), {}, 'EDGEKD_SIGNATURE_INVALID'],
    ['the same version as the active one', () => offerFor(), { activeModel: { name: 'pf', version: 3, sha256: 'c'.repeat(64) } }, 'EDGEKD_DOWNGRADE_REJECTED'],
    ['an older version', () => offerFor(), { activeModel: { name: 'pf', version: 9, sha256: 'c'.repeat(64) } }, 'EDGEKD_DOWNGRADE_REJECTED'],
    ['an older onnxruntime than the model needs', () => offerFor(), { runtimeVersion: '1.16.3' }, 'EDGEKD_INCOMPATIBLE_MODEL'],
    ['an opset the runtime cannot load', () => offerFor(), { maxOpset: 12 }, 'EDGEKD_INCOMPATIBLE_MODEL'],
    ['a model over the size limit', () => offerFor(), { maxModelBytes: 100 }, 'EDGEKD_PAYLOAD_TOO_LARGE'],
    ['too little disk', () => offerFor(), { diskFreeBytes: 100 }, 'EDGEKD_DISK_FULL'],
  ])('refuses %s', (_name, offer, envPatch, code) => {
    expect(codeOf(() => preflightCheck(offer(), { ...env, ...envPatch }))).toBe(code);
  });

  describe('downgrades', () => {
    const older = { ...env, activeModel: { name: 'pf', version: 9, sha256: 'c'.repeat(64) } };
    const model = { name: 'pf', version: 3, sha256: fx.pkg.manifest.model.sha256 };
    const signed = (patch: Partial<Parameters<typeof signDowngrade>[0]> = {}, key = fx.key) => signDowngrade({ model, devices: ['cam-1'], validForMs: 3_600_000, ...patch }, key);

    it('refuses the offer flag alone with its own code', () => {
      expect(codeOf(() => preflightCheck({ ...offerFor(), allowDowngrade: true }, older))).toBe('EDGEKD_DOWNGRADE_UNAUTHORIZED');
    });

    it('installs an older version with a statement signed by a trusted key for this build and device or group', () => {
      expect(preflightCheck({ ...offerFor(), allowDowngrade: true, downgrade: signed() }, older).version).toBe(3);
      expect(preflightCheck({ ...offerFor(), downgrade: signed({ devices: [], groups: ['lab'] }) }, older).version).toBe(3);
    });

    it.each<[string, () => SignedDowngrade, Partial<PreflightEnv>]>([
      ['another device', () => signed({ devices: ['cam-2'] }), {}],
      ['another group', () => signed({ devices: [], groups: ['prod'] }), {}],
      ['another build', () => signed({ model: { ...model, sha256: 'd'.repeat(64) } }), {}],
      ['another version', () => signed({ model: { ...model, version: 2 } }), {}],
      ['an expired statement', () => signed({ now: new Date(Date.now() - 7_200_000) }), {}],
      ['an untrusted key', () => signed({}, generateSigningKey().key), {}],
      ['an edited statement', () => {
        const s = signed();
        return { ...s, statement: { ...s.statement, devices: ['cam-1', 'cam-9'] } };
      }, {}],
      ['a malformed statement', () => ({ statement: { schema: 'edgekd.downgrade/1' } }) as unknown as SignedDowngrade, {}],
    ])('refuses a statement for %s', (_name, statement, patch) => {
      expect(codeOf(() => preflightCheck({ ...offerFor(), allowDowngrade: true, downgrade: statement() }, { ...older, ...patch }))).toBe('EDGEKD_DOWNGRADE_UNAUTHORIZED');
    });
  });

  it('compares runtime versions numerically', () => {
    expect(compareSemver('1.30.0', '1.9.9')).toBe(1);
    expect(compareSemver('1.17.0', '1.17.0')).toBe(0);
  });
});

describe('preflight against the published offer sequence (docs/protocol/vectors/offers.json)', () => {
  const v = JSON.parse(readFileSync(resolve(__dirname, '../../docs/protocol/vectors/offers.json'), 'utf8')) as {
    trustedKeys: PreflightEnv['trustedKeys']; verifyAt: string;
    steps: Array<{ name: string; input: { offer?: Offer }; expect: { reports: Array<{ state: string; errorCode?: string }>; activeModel: ModelRef } }>;
  };
  // The model serving before each step is the previous step's expected activeModel.
  const cases = v.steps.map((s, i) => ({ step: s, before: i === 0 ? null : v.steps[i - 1]!.expect.activeModel })).filter((c) => c.step.input.offer && c.step.expect.reports.length > 0);

  it.each(cases.map((c) => [c.step.name, c] as const))('%s: the checks decide as the vector says', (_name, { step, before }) => {
    const first = step.expect.reports[0]!;
    const expected = first.state === 'rejected' ? first.errorCode : 'accepted';
    expect(codeOf(() => preflightCheck(step.input.offer!, { ...env, trustedKeys: v.trustedKeys, activeModel: before, now: new Date(v.verifyAt) }))).toBe(expected);
  });
});
