import { randomBytes } from 'node:crypto';
import { generateSigningKey, type ModelPackage, type SigningKey } from '../../shared/package';
import { isTerminalState, type DeploymentState, type ModelRef, type Offer, type StatusReport } from '../../shared/protocol';
import { connectCloudSide, type ChunkFaults, type CloudSide } from './cloud-side';
import { conformanceModel, conformancePackage, mismatchModel, offerFor, signWithOtherKey, tamperFile, tamperManifest, type ModelBytes } from './packages';

/**
 * `edgekd conformance`: plays the cloud's side of protocol v1 against one device under test and
 * judges what the device does. The cases run in order on one device (later ones rely on the model
 * the earlier ones installed) and each ends in pass or fail with the reason. Nothing about the
 * device is assumed beyond docs/protocol.md: it must trust `signingKey`, be connected, and run no
 * other deployment meanwhile.
 */
export interface ConformanceOptions {
  readonly brokerUrl: string;
  readonly deviceId: string;
  readonly username?: string;
  readonly password?: string;
  /** A key the device trusts; the packages are signed with it. */
  readonly signingKey: SigningKey;
  /** Model bytes for the offered versions (default: two small real ONNX classifiers). */
  readonly models?: readonly [ModelBytes, ModelBytes];
  /** How long one case may wait for the device (default 60 s). */
  readonly caseTimeoutMs?: number;
  /** How long to wait for a report whose ack was withheld to be delivered again (default 30 s). */
  readonly redeliveryWaitMs?: number;
  /** How long to wait for a heartbeat if none came during the run (default 70 s). */
  readonly heartbeatWaitMs?: number;
  readonly chunkBytes?: number;
  readonly clientId?: string;
  /** Progress lines (one per case). */
  readonly log?: (line: string) => void;
}

export interface CaseResult {
  readonly id: string;
  readonly title: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly ms: number;
}

export interface ConformanceReport {
  readonly ok: boolean;
  readonly deviceId: string;
  readonly modelName: string;
  readonly results: CaseResult[];
}

class CaseFailure extends Error {}
function must(cond: unknown, message: string): asserts cond {
  if (!cond) throw new CaseFailure(message);
}

const FORWARD: DeploymentState[] = ['offered', 'downloading', 'verifying', 'staging', 'warming', 'shadow', 'activating', 'baking', 'committed'];
const sameRef = (a: ModelRef | null | undefined, b: ModelRef | null): boolean => (a ?? null) === b || (!!a && !!b && a.name === b.name && a.version === b.version && a.sha256 === b.sha256);
const refText = (r: ModelRef | null | undefined): string => (r ? `${r.name}@${r.version}` : 'none');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitUntil<T>(what: string, timeoutMs: number, probe: () => T | undefined | null | false): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > until) throw new CaseFailure(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

export async function runConformance(o: ConformanceOptions): Promise<ConformanceReport> {
  const caseTimeoutMs = o.caseTimeoutMs ?? 60_000;
  const chunkBytes = o.chunkBytes ?? 1024;
  const run = randomBytes(4).toString('hex');
  const modelName = `conformance-${run}`;
  const now = new Date();
  const [m1, m2] = o.models ?? [conformanceModel(1), conformanceModel(2)];
  const v1 = conformancePackage(o.signingKey, modelName, 1, m1, now);
  const v2 = conformancePackage(o.signingKey, modelName, 2, m2, now);
  const stranger = generateSigningKey(now).key;
  const cloud: CloudSide = await connectCloudSide({
    brokerUrl: o.brokerUrl, deviceId: o.deviceId, username: o.username, password: o.password, clientId: o.clientId ?? `edgekd-conformance-${run}`,
  });
  const results: CaseResult[] = [];
  let active: ModelRef | null = null;
  let v2Deployment: string | null = null;
  let dep = 0;
  const newOffer = (pkg: ModelPackage, extra: { activation?: Offer['activation'] } = {}): Offer =>
    offerFor(pkg, { deploymentId: `${modelName}-d${++dep}`, rolloutId: `${modelName}-r`, chunkBytes, issuedAt: new Date().toISOString(), ...extra });
  const refOf = (pkg: ModelPackage): ModelRef => ({ name: pkg.manifest.name, version: pkg.manifest.version, sha256: pkg.manifest.model.sha256 });

  const reportsOf = (deploymentId: string): StatusReport[] => cloud.statuses.filter((s) => s.deploymentId === deploymentId).sort((a, b) => a.seq - b.seq);
  const terminal = (deploymentId: string): Promise<StatusReport[]> =>
    waitUntil(`a terminal report for ${deploymentId}`, caseTimeoutMs, () => {
      const r = reportsOf(deploymentId);
      return r.some((s) => isTerminalState(s.state)) ? r : undefined;
    });

  /** Offers, serves and waits; then checks the whole report sequence of a good deployment. */
  const install = async (pkg: ModelPackage, offer: Offer, faults: ChunkFaults, expectShadow: boolean): Promise<string> => {
    cloud.serve(offer.deploymentId, { bytes: pkg.model, chunkBytes, faults });
    await cloud.offer(offer);
    const reports = await terminal(offer.deploymentId);
    const states = reports.map((r) => r.state);
    const last = reports[reports.length - 1]!;
    must(last.state === 'committed', `ended ${last.state}${last.error ? ` (${last.error.code}: ${last.error.message})` : ''}; states ${states.join(' → ')}`);
    const expected = FORWARD.filter((s) => s !== 'shadow' || expectShadow);
    must(states.join(',') === expected.join(','), `states ${states.join(' → ')}, expected ${expected.join(' → ')}`);
    for (const r of reports) must(sameRef(r.model, refOf(pkg)), `the ${r.state} report names model ${refText(r.model)}, not ${refText(refOf(pkg))}`);
    must(sameRef(last.activeModel, refOf(pkg)), `committed report says ${refText(last.activeModel)} serves`);
    const dl = reports.find((r) => r.state === 'downloading')!;
    must(dl.bytesTotal === undefined || dl.bytesTotal === pkg.model.length, `downloading report says bytesTotal ${dl.bytesTotal}, the file has ${pkg.model.length}`);
    return `${states.join(' → ')}`;
  };

  /** An offer the device must refuse before downloading: exactly one `rejected` report with `code`. */
  const rejected = async (offer: Offer, code: string): Promise<string> => {
    // Served, so that a device that wrongly downloads is seen doing it (its chunk requests are recorded).
    cloud.serve(offer.deploymentId, { bytes: new Uint8Array(offer.delivery.sizeBytes), chunkBytes, faults: {} });
    await cloud.offer(offer);
    await terminal(offer.deploymentId);
    await sleep(300); // anything reported after the terminal state would be a violation too
    const all = reportsOf(offer.deploymentId);
    const states = all.map((r) => r.state);
    must(states.join(',') === 'rejected', `states ${states.join(' → ')}, expected only rejected (no offered before the checks pass)`);
    must(all[0]!.error?.code === code, `error ${all[0]!.error?.code ?? 'none'}, expected ${code}`);
    must(!cloud.chunkRequests.some((c) => c.deploymentId === offer.deploymentId), 'the device requested chunks of a refused offer');
    if (all[0]!.activeModel !== undefined) must(sameRef(all[0]!.activeModel, active), `report says ${refText(all[0]!.activeModel)} serves, expected ${refText(active)}`);
    return `rejected ${code}`;
  };

  const cases: Array<{ id: string; title: string; run: () => Promise<string> }> = [
    {
      id: 'birth',
      title: 'retained online presence with (bootSeq, sessionSeq)',
      run: async () => {
        const p = await waitUntil('an online presence', caseTimeoutMs, () => cloud.presences.find((x) => x.state === 'online'));
        active = p.activeModel ?? null;
        if (p.trustedKeyIds) must(p.trustedKeyIds.includes(o.signingKey.keyId), `the device trusts ${p.trustedKeyIds.join(', ') || 'no key'}, not the runner's key ${o.signingKey.keyId}`);
        return `online, boot ${p.bootSeq}, session ${p.sessionSeq}, serving ${refText(active)}, trusts ${p.trustedKeyIds ? p.trustedKeyIds.length : '?'} key(s)`;
      },
    },
    {
      id: 'install',
      title: 'good package over MQTT chunks with retryAfter, a dropped and a corrupt chunk',
      run: async () => {
        const offer = newOffer(v1, { activation: { warmupRuns: 1, bakeMs: 300 } });
        must(offer.delivery.chunkSha256.length >= 4, `the model must span at least 4 chunks of ${chunkBytes} bytes`);
        // The first report is not acked: the device must deliver it again with the same key.
        cloud.withholdAckOnce((s) => s.deploymentId === offer.deploymentId);
        const detail = await install(v1, offer, { retryAfter: { indices: [1], ms: 300 }, drop: [2], corrupt: [3] }, false);
        const reqs = cloud.chunkRequests.filter((c) => c.deploymentId === offer.deploymentId);
        for (const [i, why] of [[1, 'after its retryAfterMs error'], [2, 'after the dropped request'], [3, 'after the corrupt chunk']] as const) {
          must(reqs.filter((c) => c.index === i).length >= 2, `chunk ${i} was not requested again ${why}`);
        }
        const retry = reqs.filter((c) => c.index === 1);
        must(retry[1]!.atMs - retry[0]!.atMs >= 250, `chunk 1 was asked again ${retry[1]!.atMs - retry[0]!.atMs} ms after a retryAfterMs of 300`);
        active = refOf(v1);
        return detail;
      },
    },
    {
      id: 'redelivery',
      title: 'an unacked report is delivered again with the same idempotency key',
      run: async () => {
        const first = cloud.statuses.find((s) => s.deploymentId === `${modelName}-d1`);
        must(first, 'no report of the install deployment to check');
        await waitUntil(`report ${first.idempotencyKey} delivered again`, o.redeliveryWaitMs ?? 30_000, () => (cloud.deliveries.get(first.idempotencyKey) ?? 0) >= 2);
        return `${first.state} report ${first.idempotencyKey} arrived ${cloud.deliveries.get(first.idempotencyKey)} times`;
      },
    },
    {
      id: 'offer-repeat',
      title: 'a finished deployment offered again is ignored',
      run: async () => {
        const id = `${modelName}-d1`;
        const before = reportsOf(id).length;
        const again = offerFor(v1, { deploymentId: id, rolloutId: `${modelName}-r`, chunkBytes, issuedAt: new Date().toISOString() });
        await cloud.offer(again);
        await sleep(1_500);
        must(reportsOf(id).length === before, `the device reported ${reportsOf(id).slice(before).map((r) => r.state).join(', ')} for a finished deployment`);
        await cloud.offer(null);
        return 'no new report in 1.5 s';
      },
    },
    {
      id: 'malformed',
      title: 'malformed offers and commands are dropped without a report or a disconnect',
      run: async () => {
        const id = `${modelName}-malformed`;
        const before = cloud.statuses.length;
        const beats = cloud.heartbeats.length;
        await cloud.publishRaw('offer', Buffer.from('{"schema":"edgekd.offer/1","deploymentId":"' + id + '"'), true);
        await cloud.publishRaw('offer', Buffer.from(JSON.stringify({ schema: 'edgekd.offer/1', deploymentId: id, rolloutId: 'r' })), true);
        await cloud.publishRaw('command', Buffer.from(JSON.stringify({ schema: 'edgekd.command/1', type: 'rollback' })));
        await cloud.publishRaw('ack', Buffer.from([0xff, 0xfe, 0x00]));
        await sleep(1_500);
        await cloud.offer(null);
        must(cloud.statuses.length === before, `the device reported ${cloud.statuses.slice(before).map((r) => `${r.deploymentId} ${r.state}`).join(', ')}`);
        await waitUntil('a heartbeat after the malformed messages (the device must stay up)', o.heartbeatWaitMs ?? 70_000, () => cloud.heartbeats.length > beats);
        return 'no report; heartbeats continue';
      },
    },
    { id: 'tampered-manifest', title: 'manifest changed after signing → rejected', run: () => rejected(tamperManifest(newOffer(v2)), 'EDGEKD_SIGNATURE_INVALID') },
    { id: 'untrusted-key', title: 'signed by a key the device does not trust → rejected', run: () => rejected(signWithOtherKey(newOffer(v2), stranger), 'EDGEKD_KEY_UNTRUSTED') },
    { id: 'offer-mismatch', title: "offer's model sha256 differs from the signed manifest → rejected", run: () => rejected(mismatchModel(newOffer(v2)), 'EDGEKD_PACKAGE_INVALID') },
    {
      id: 'tampered-file',
      title: 'model bytes altered in transit (chunk hashes consistent) → failed at verifying',
      run: async () => {
        const { offer, served } = tamperFile(newOffer(v2), v2.model);
        cloud.serve(offer.deploymentId, { bytes: served, chunkBytes, faults: {} });
        await cloud.offer(offer);
        const reports = await terminal(offer.deploymentId);
        const last = reports[reports.length - 1]!;
        must(last.state === 'failed', `ended ${last.state}, expected failed`);
        must(last.error?.code === 'EDGEKD_HASH_MISMATCH', `error ${last.error?.code ?? 'none'}, expected EDGEKD_HASH_MISMATCH`);
        must(last.failedStep === 'verifying', `failedStep ${last.failedStep ?? 'none'}, expected verifying`);
        must(sameRef(last.activeModel, active), `after the failure ${refText(last.activeModel)} serves, expected ${refText(active)}`);
        return reports.map((r) => r.state).join(' → ');
      },
    },
    {
      id: 'chunk-error',
      title: 'chunk error frame without retryAfterMs → failed at downloading with that code',
      run: async () => {
        const offer = newOffer(v2);
        cloud.serve(offer.deploymentId, { bytes: v2.model, chunkBytes, faults: { finalError: { code: 'EDGEKD_NOT_FOUND', message: 'no such file' } } });
        await cloud.offer(offer);
        const reports = await terminal(offer.deploymentId);
        const last = reports[reports.length - 1]!;
        must(last.state === 'failed' && last.failedStep === 'downloading', `ended ${last.state} at ${last.failedStep ?? '?'}, expected failed at downloading`);
        must(last.error?.code === 'EDGEKD_NOT_FOUND', `error ${last.error?.code ?? 'none'}, expected the frame's EDGEKD_NOT_FOUND`);
        must(sameRef(last.activeModel, active), `after the failure ${refText(last.activeModel)} serves`);
        return reports.map((r) => r.state).join(' → ');
      },
    },
    {
      id: 'upgrade-shadow',
      title: 'newer version with shadow (no live input: agreement null passes) and bake',
      run: async () => {
        const offer = newOffer(v2, { activation: { warmupRuns: 1, shadow: { inferences: 3, maxWaitMs: 300, minAgreement: 0.5 }, bakeMs: 300 } });
        const detail = await install(v2, offer, {}, true);
        const shadow = reportsOf(offer.deploymentId).find((r) => r.shadow !== undefined)?.shadow;
        must(shadow, 'no report carries the shadow metrics (expected on the report after shadow)');
        must(shadow.inferences > 0 || shadow.agreement === null, `shadow with ${shadow.inferences} inferences must say agreement null`);
        v2Deployment = offer.deploymentId;
        active = refOf(v2);
        return `${detail}; shadow ${shadow.inferences} inferences, agreement ${shadow.agreement}`;
      },
    },
    {
      id: 'downgraded',
      title: 'older version, validly signed, no signed downgrade intent → rejected',
      run: () => rejected(newOffer(v1), 'EDGEKD_DOWNGRADE_REJECTED'),
    },
    {
      id: 'rollback',
      title: 'rollback command for the committed deployment → previous model serves',
      run: async () => {
        must(v2Deployment, 'the upgrade did not commit; nothing to roll back');
        const commandId = `${modelName}-cmd1`;
        const before = reportsOf(v2Deployment).length;
        await cloud.command({ schema: 'edgekd.command/1', type: 'rollback', commandId, issuedAt: new Date().toISOString(), deploymentId: v2Deployment, reason: 'conformance' });
        const r = await waitUntil('the rollback answer', caseTimeoutMs, () => reportsOf(v2Deployment!).slice(before).find((s) => s.commandId === commandId));
        must(r.state === 'rolled_back', `answered ${r.state}, expected rolled_back`);
        must(sameRef(r.activeModel, refOf(v1)), `after the rollback ${refText(r.activeModel)} serves, expected ${refText(refOf(v1))}`);
        active = refOf(v1);
        // The same commandId again must not act twice.
        await cloud.command({ schema: 'edgekd.command/1', type: 'rollback', commandId, issuedAt: new Date().toISOString(), deploymentId: v2Deployment, reason: 'conformance' });
        await sleep(1_000);
        const answers = reportsOf(v2Deployment).filter((s) => s.commandId === commandId);
        must(answers.length === 1, `the repeated command ${commandId} was answered ${answers.length} times`);
        return `rolled_back, ${refText(r.activeModel)} serves; repeated commandId ignored`;
      },
    },
    {
      id: 'rollback-unknown',
      title: 'rollback of a deployment the device never saw → failed EDGEKD_NOT_FOUND',
      run: async () => {
        const commandId = `${modelName}-cmd2`;
        const deploymentId = `${modelName}-never`;
        await cloud.command({ schema: 'edgekd.command/1', type: 'rollback', commandId, issuedAt: new Date().toISOString(), deploymentId });
        const r = await waitUntil('the rollback answer', caseTimeoutMs, () => cloud.statuses.find((s) => s.commandId === commandId));
        must(r.deploymentId === deploymentId && r.state === 'failed' && r.error?.code === 'EDGEKD_NOT_FOUND', `answered ${r.state} ${r.error?.code ?? ''}`);
        return 'failed EDGEKD_NOT_FOUND';
      },
    },
    {
      id: 'heartbeat',
      title: 'heartbeats parse and name the serving model',
      run: async () => {
        const hb = await waitUntil('a heartbeat', o.heartbeatWaitMs ?? 70_000, () => cloud.heartbeats[cloud.heartbeats.length - 1]);
        return `${cloud.heartbeats.length} heartbeats, interval ${hb.intervalMs} ms, serving ${refText(hb.activeModel)}`;
      },
    },
    {
      id: 'reports',
      title: 'every report parses; seq strictly increasing with the state order; keys unique',
      run: async () => {
        const seqs = new Map<number, string>();
        for (const s of cloud.statuses) {
          must(!seqs.has(s.seq), `seq ${s.seq} is used by two reports (${seqs.get(s.seq)} and ${s.idempotencyKey})`);
          seqs.set(s.seq, s.idempotencyKey);
        }
        for (const id of new Set(cloud.statuses.map((s) => s.deploymentId))) {
          const r = reportsOf(id);
          for (let i = 1; i < r.length; i++) {
            const a = FORWARD.indexOf(r[i - 1]!.state);
            const b = FORWARD.indexOf(r[i]!.state);
            if (a >= 0 && b >= 0) must(b > a, `deployment ${id}: ${r[i - 1]!.state} (seq ${r[i - 1]!.seq}) before ${r[i]!.state} (seq ${r[i]!.seq})`);
          }
        }
        return `${cloud.statuses.length} reports, ${seqs.size} distinct seq`;
      },
    },
    {
      id: 'messages',
      title: 'every message the device published parses against the protocol schemas',
      run: async () => {
        must(cloud.violations.length === 0, cloud.violations.slice(0, 3).map((v) => `${v.topic}: ${v.message}`).join('; '));
        return `${cloud.presences.length + cloud.heartbeats.length + cloud.statuses.length + cloud.chunkRequests.length} messages, none invalid`;
      },
    },
  ];

  try {
    for (const c of cases) {
      const t0 = Date.now();
      let result: CaseResult;
      if (results.length > 0 && !cloud.presences.some((p) => p.state === 'online')) {
        // Without a birth there is no device to judge: say so instead of timing out case by case.
        results.push({ id: c.id, title: c.title, ok: false, detail: 'not run: the device never came online', ms: 0 });
        continue;
      }
      try {
        result = { id: c.id, title: c.title, ok: true, detail: await c.run(), ms: Date.now() - t0 };
      } catch (e) {
        result = { id: c.id, title: c.title, ok: false, detail: e instanceof CaseFailure ? e.message : `error: ${(e as Error).message}`, ms: Date.now() - t0 };
      }
      results.push(result);
      o.log?.(`${result.ok ? 'pass' : 'FAIL'} ${c.id}: ${result.detail}`);
    }
  } finally {
    await cloud.close();
  }
  return { ok: results.every((r) => r.ok), deviceId: o.deviceId, modelName, results };
}

/** The pass/fail table the CLI prints. */
export function formatConformanceTable(r: ConformanceReport): string {
  const w = Math.max(...r.results.map((x) => x.id.length), 4);
  const lines = [`edgekd conformance: device ${r.deviceId}, model ${r.modelName}`, '', `${'case'.padEnd(w)}  result  time     detail`];
  for (const x of r.results) lines.push(`${x.id.padEnd(w)}  ${x.ok ? 'pass  ' : 'FAIL  '}  ${`${(x.ms / 1000).toFixed(1)} s`.padEnd(7)}  ${x.detail}`);
  const passed = r.results.filter((x) => x.ok).length;
  lines.push('', `${passed}/${r.results.length} cases passed${r.ok ? '' : ' — NOT conformant'}`);
  return lines.join('\n');
}
