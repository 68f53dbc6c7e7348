/**
 * Done means, end to end: `edgekd cloud` (startCloud, not the demo) with devices provisioned in a
 * group other than `demo` (`line-a`) and a second group (`line-b`) that runs nothing of this model
 * line. A drift alarm on line-a's cohort → re-distillation (a distill job warm-started from the
 * deployed run) → export job (signed package, next version, lineage) → canary and waves on exactly
 * line-a's devices, with no human step. line-b is never offered the retrained model.
 *
 * The devices are protocol-conformant scripted devices (test/fleet/helpers/scripted-device.ts):
 * they download, verify and commit over MQTT and publish drift report envelopes on the drift topic
 * the agent uses; the agent's own monitor is tested in edge/.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startCloud, type RunningCloud } from '../../cloud/api/start-cloud';
import { jobParams, jobResult, submitJob } from '../../cloud/jobs/job-kinds';
import { fakeDriftEnvelope } from '../../cloud/drift/testing-reports';
import { TINY_DISTILL } from '../../cloud/retrain/student-card.test-helper';
import { startScriptedDevice, type ScriptedDevice } from '../fleet/helpers/scripted-device';
import { until } from '../fleet/helpers/fleet-world';

const dir = mkdtempSync(join(tmpdir(), 'edgekd-cloud-retrain-'));
const teacherDir = resolve(__dirname, '../../models/teachers/fashion-mnist-lenet5-bn');
let cloud: RunningCloud | null = null;
const devices: ScriptedDevice[] = [];
afterAll(async () => {
  await Promise.all(devices.map((d) => d.close().catch(() => undefined)));
  await cloud?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('edgekd cloud: the automatic retrain loop on a non-demo group', () => {
  it('turns a drift alarm on line-a into a re-distilled, signed package rolled out by canary and waves to line-a only, with no human step', async () => {
    cloud = await startCloud({
      dataDir: join(dir, 'cloud'), port: 0, brokerPort: 0, teacherDir, logLevel: 'silent', jobEnv: { EDGEKD_LOG_LEVEL: 'silent' },
      retrainPolicy: { minAlarmDurationMs: 0, cooldownMs: 3_600_000, estimatedRunMs: 60_000, computeBudgetMsPerDay: 3_600_000, maxConcurrentRuns: 1 },
      driftTickMs: 300,
    });
    const c = cloud;
    const fleet = c.fleet!;
    expect(fleet).toBeTruthy();
    const ids = { a: ['a-1', 'a-2', 'a-3'], b: ['b-1', 'b-2'] };
    const byId = new Map<string, ScriptedDevice>();
    for (const [group, list] of [['line-a', ids.a], ['line-b', ids.b]] as const) {
      for (const deviceId of list) {
        const p = await fleet.provisionDevice({ deviceId, groups: [group] });
        const d = await startScriptedDevice({ url: c.brokerUrl!, deviceId, username: p.username, password: p.password, shadow: { agreement: 0.99, confidenceShift: 0 } });
        devices.push(d);
        byId.set(deviceId, d);
      }
    }

    // The line's first package: a (tiny) distillation run, exported and rolled out to line-a by the
    // cloud's own pipeline. This is the run the retrain warm-starts from.
    const first = await submitJob(c.jobs, 'distill', {
      teacherPath: teacherDir, student: 'lenet5-half', method: 'ssdkd', seed: 1, evalSamples: 100, config: { ...TINY_DISTILL },
      export: true, packageName: 'line-a-model',
      rollout: { target: { groups: ['line-a'] }, waves: { canaryDevices: 1, firstWaveDevices: 2, growthFactor: 2 }, bakeMs: 200 },
    });
    await until(async () => (await fleet.listRollouts()).some((r) => r.status === 'completed'), 120_000, 'the first rollout to complete');
    const v1 = (await fleet.listPackages()).find((p) => p.name === 'line-a-model')!;
    expect(v1.version).toBe(1);
    expect((await c.jobs.get(first.id)).state).toBe('succeeded');

    // Drift on line-a only: every line-a device reports an alarm on the deployed model.
    const now = Date.now();
    for (const [i, deviceId] of ids.a.entries()) {
      const e = fakeDriftEnvelope({ deviceId, key: `drift-${deviceId}`, p: 1e-9, alarm: true, at: now });
      await byId.get(deviceId)!.publishDrift({ ...e, seq: i + 1, model: { name: v1.name, version: v1.version, sha256: v1.sha256 } });
    }

    // No human step from here: alarm → retrain run → distill job → export job → rollout.
    await until(async () => (await fleet.listPackages()).some((p) => p.name === 'line-a-model' && p.version === 2), 180_000, 'the retrained package');
    const v2 = (await fleet.listPackages()).find((p) => p.name === 'line-a-model' && p.version === 2)!;
    await until(async () => (await fleet.listRollouts()).some((r) => r.packageId === v2.packageId && ['completed', 'rolled_back', 'aborted', 'failed'].includes(r.status)), 120_000, 'the retrain rollout to end');
    const ro = (await fleet.listRollouts()).find((r) => r.packageId === v2.packageId)!;
    expect(ro.status).toBe('completed');
    const state = (await fleet.getRolloutState(ro.id))!;
    expect(Object.keys(state.devices).sort()).toEqual(ids.a);
    // Canary then waves: more than one wave was planned on the three line-a devices.
    expect(state.waves.length).toBeGreaterThan(1);
    // line-b was never offered anything (no status report from it mentions a rollout).
    for (const id of ids.b) expect(byId.get(id)!.reports).toEqual([]);

    // The package was made by a retrain: a distill job warm-started from the first run, an export job
    // with lineage to v1, and the retrain run record names the cohort and the package.
    const distills = await c.jobs.list({ kind: 'distill' });
    const re = distills.find((j) => j.id !== first.id)!;
    expect(jobParams(re, 'distill')).toMatchObject({ retrainOf: first.id, warmStartFrom: jobResult(await c.jobs.get(first.id), 'distill')!.studentDir });
    expect((v2.manifest as { lineage: { parent?: { version: number } } }).lineage.parent?.version).toBe(1);
    const auth = { authorization: `Bearer ${c.tokens[0]!.token}` };
    type HistoryRow = { cohort: string; state: string; packageId: string | null; runId: string | null };
    const history = async (): Promise<HistoryRow[]> => (await c.app.inject({ url: '/api/retrain/history', headers: auth })).json() as HistoryRow[];
    // The run sees the rollout's end at its next poll.
    await until(async () => (await history())[0]?.state !== 'rolling-out', 10_000, 'the retrain run to record the rollout outcome');
    expect((await history())[0]).toMatchObject({ cohort: 'group:line-a', state: 'promoted', packageId: 'line-a-model@2', runId: re.id });
  }, 300_000);
});
