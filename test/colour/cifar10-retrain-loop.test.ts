/**
 * The loop on CIFAR-10, once, end to end on a tiny colour model: real agents (in-process, the
 * agent `edgekd agent` runs, onnxruntime inference and its own label-free drift monitor) serve a
 * data-free 32x32x3 student; they are fed real CIFAR-10 images (the official test batch stands for
 * what the devices' cameras see: field data is the device's own), first clean, then with a
 * brightness shift. The agents' monitors raise the alarm from their field baseline, their drift
 * reports reach the cloud's retrain loop (`startRetrainLoop`: drift service, controller, the one
 * retrain pipeline with the in-process engines), which re-distils v2 data-free (warm-started from
 * v1's synthetic replay buffer, the field's statistics as targets), packages and signs it, and
 * rolls it out by canary and waves to the alarming group; every agent commits v2.
 *
 * No real image reaches the distillation: the engine is observed, and it refuses real data itself.
 * The teacher is a tiny random BatchNorm network (as in three-channel-pipeline.test.ts), not the
 * committed CIFAR-10 teacher: this test is about the loop, not accuracy.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCompute } from '../../cloud/compute';
import { loadCifar10Raw } from '../../cloud/data/cifar10-dataset';
import { CIFAR10_NORMALIZATION, inputRange } from '../../cloud/data/dataset-info';
import { saveBuffer } from '../../cloud/distill/buffer-file';
import { distillDataFree, type DataFreeDistillOptions } from '../../cloud/distill/distill';
import { tinyStudent, tinyTeacher } from '../../cloud/distill/tiny-models.test-helper';
import { exportStudent } from '../../cloud/export/export-student';
import { currentModelFromDistillOutput } from '../../cloud/retrain/current-model';
import { createInProcessEngines } from '../../cloud/retrain/engine-steps';
import { startRetrainLoop, type RetrainLoop } from '../../cloud/retrain/retrain-loop';
import { TINY_DISTILL } from '../../cloud/retrain/student-card.test-helper';
import { saveModel } from '../../cloud/zoo/model-io';
import type { ModelCard } from '../../cloud/zoo/model-card';
import { createFleetSlice, type FleetSlice } from '../../edge/sim/fleet-agents';
import { applyImageShift } from '../../shared/drift/shifts';
import { createRandom } from '../../shared/random/seeded-random';
import { fleetWorld, quietLogger, until, type FleetWorld } from '../fleet/helpers/fleet-world';

const H = 32;
const C = 3;
const DIM = H * H * C;
const LABELS = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const GROUP = 'cifar-line';
const DEVICES = ['cam-1', 'cam-2'];
/** Field baseline per device (half builds the reference, half fits the score bands of 512-sample windows). */
const BASELINE = 1_200;
const BATCH = 32;

let world: FleetWorld | null = null;
let slice: FleetSlice | null = null;
let loop: RetrainLoop | null = null;
afterAll(async () => {
  await loop?.close();
  await slice?.stop();
  await world?.close();
});
beforeAll(async () => {
  await initCompute({ backend: 'wasm' });
});

function card(): ModelCard {
  return {
    schemaVersion: 1, name: 'cifar-tiny', architecture: 'tiny', output: 'logits', inputShape: [H, H, C], numClasses: 10, classNames: LABELS,
    normalization: { kind: 'per-channel', mean: [...CIFAR10_NORMALIZATION.mean], std: [...CIFAR10_NORMALIZATION.std], rawMax: 255 }, dataset: { name: 'cifar10', split: 'none: data-free' }, accuracy: null,
    params: { total: 1, trainable: 1 }, macs: 1, training: { command: 'test', seed: 1 }, createdAt: '2026-01-01T00:00:00.000Z',
  };
}

describe('the drift → retrain → rollout loop on CIFAR-10', () => {
  it('fires the agents’ drift alarm on shifted CIFAR-10 images, re-distils v2 data-free and rolls it out to the drifting group, which commits it', async () => {
    const w = await fleetWorld({ agents: 0 });
    world = w;
    const range = inputRange(CIFAR10_NORMALIZATION, C);

    // v1: a tiny colour teacher with BatchNorm and a student distilled from it data-free, saved
    // as a distill output (student, card, synthetic replay buffer), exported int8 and signed.
    const teacherDir = join(w.dir, 'teacher');
    const teacher = tinyTeacher(1, { size: H, channels: C, classes: 10 });
    await saveModel(teacher, teacherDir, { ...card(), name: 'cifar-tiny-teacher' });
    const studentDir = join(w.dir, 'student-v1');
    const student = tinyStudent(2, { size: H, channels: C, classes: 10 });
    const first = await distillDataFree({ teacher, student, method: 'ssdkd', seed: 1, input: { range, flipInvariant: true }, config: TINY_DISTILL });
    await saveModel(student, studentDir, card());
    saveBuffer(studentDir, first.buffer!);
    const [v1] = await exportStudent({ studentDir, out: join(w.dir, 'package-v1'), key: w.key, teacherDir, name: 'cifar-tiny', version: 1, evaluate: false, layerSketches: true, calibrationCount: 16 });
    const v1Id = await w.register(v1!.pkg);

    // The devices: real agents in this process, provisioned in one group, drift reports every 500 ms.
    const credentials: Record<string, string> = {};
    for (const deviceId of DEVICES) credentials[deviceId] = (await w.cloud.provisionDevice({ deviceId, groups: [GROUP] })).password;
    const trustedKeysFile = join(w.dir, 'trusted-keys.json');
    writeFileSync(trustedKeysFile, JSON.stringify(await w.cloud.trustedKeys()));
    mkdirSync(join(w.dir, 'agents'));
    const s = createFleetSlice({ deviceIds: DEVICES, brokerUrl: w.brokerUrl, trustedKeysFile, stateDir: join(w.dir, 'agents'), engine: 'onnxruntime', protocolVersion: 4, heartbeatIntervalMs: 1_000, startConcurrency: 2, credentials, driftReportEveryMs: 500, driftBaselineSamples: BASELINE }, quietLogger);
    slice = s;
    await s.start();
    const rolloutPlan = { waves: { canaryDevices: 1, firstWaveDevices: 1, growthFactor: 2 }, bakeMs: 200 };
    const r1 = await w.cloud.createRollout({ packageId: v1Id, target: { groups: [GROUP] }, ...rolloutPlan });
    await w.waitStatus(r1.id, ['completed'], 60_000);
    expect(s.status().byModel).toEqual({ 'cifar-tiny@1': 2 });

    // The cloud's retrain loop with the in-process engines: re-distillation (the data-free engine,
    // observed), export + int8 + signing, the fleet canary on the alarming cohort.
    const seen: DataFreeDistillOptions[] = [];
    const engines = createInProcessEngines({
      teacherDir,
      workDir: join(w.dir, 'runs'),
      signingKey: w.key,
      current: async () => currentModelFromDistillOutput(studentDir, v1!.pkg.manifest),
      distill: { config: TINY_DISTILL },
      calibrationCount: 16,
      adaptation: { method: 'redistill' },
      distillImpl: async (o) => (seen.push(o), distillDataFree(o)),
    });
    const l = await startRetrainLoop({ db: w.db, fleet: w.cloud, engines, log: quietLogger, tickMs: 250, rolloutPollMs: 100, rollout: rolloutPlan, policy: { minAlarmDurationMs: 0, cooldownMs: 3_600_000, estimatedRunMs: 60_000, computeBudgetMsPerDay: 3_600_000, maxConcurrentRuns: 1 } });
    loop = l;

    // Field stream: real CIFAR-10 images (raw 0..255 RGB, as a camera would send them), batches of 32.
    const raw = loadCifar10Raw();
    const random = createRandom(15);
    const geometry = { height: H, width: H, channels: C, range: [0, 255] as const };
    let shifted = false;
    const sendBatch = async (agentIndex: number): Promise<void> => {
      const data = new Float32Array(BATCH * DIM);
      for (let b = 0; b < BATCH; b++) {
        const i = random.int(10_000);
        const img = raw.testPixels.subarray(i * DIM, (i + 1) * DIM);
        data.set(shifted ? applyImageShift(img, 'brightness', 5, geometry, random) : img, b * DIM);
      }
      const res = await s.agents[agentIndex]!.infer({ dtype: 'float32', shape: [BATCH, H, H, C], data: Array.from(data) });
      expect(res.topK).toHaveLength(BATCH);
    };
    const stream = async (perDevice: number): Promise<void> => {
      for (let k = 0; k < perDevice / BATCH; k++) for (let a = 0; a < DEVICES.length; a++) await sendBatch(a);
    };
    // Clean images until each monitor has its field baseline and scores windows without alarming.
    await stream(BASELINE + 768);
    for (const a of s.agents) expect(a.driftMonitor()!.state()).toMatchObject({ referenceSource: 'field-baseline', alarmActive: false });

    // The shift: the same stream, brightened. Keep serving until the agents' monitors confirm it.
    shifted = true;
    await until(async () => {
      await stream(BATCH * 4);
      return s.agents.every((a) => a.driftMonitor()!.state().alarmActive);
    }, 60_000, 'both agents’ drift alarms');

    // No human step from here: reports → cohort alarm → retrain run → v2 → canary and waves → commit.
    await until(async () => (await w.cloud.listPackages()).some((p) => p.name === 'cifar-tiny' && p.version === 2), 90_000, 'the retrained package v2');
    await until(() => s.status().byModel['cifar-tiny@2'] === 2, 60_000, 'both agents to commit v2');
    const v2 = (await w.cloud.listPackages()).find((p) => p.name === 'cifar-tiny' && p.version === 2)!;
    const ro = (await w.cloud.listRollouts()).find((r) => r.packageId === v2.packageId)!;
    await w.waitStatus(ro.id, ['completed', 'rolled_back', 'aborted', 'failed'], 30_000);
    expect((await w.cloud.getRollout(ro.id))!.status).toBe('completed');
    expect(Object.keys((await w.cloud.getRolloutState(ro.id))!.devices).sort()).toEqual(DEVICES);

    // The run: started by the agents' own alarms on this group, through distill → package → rollout.
    await until(async () => (await l.controller.runs())[0]?.state !== 'rolling-out', 10_000, 'the run to record the rollout outcome');
    const runs = await l.controller.runs();
    expect(runs[0]).toMatchObject({ cohort: `group:${GROUP}`, state: 'promoted' });
    const lineage = (await l.controller.lineage(runs[0]!.id))!;
    // The run starts once the cohort's alarm opens (the quorum may be one device), so its trigger
    // reports come from one or both of the group's agents.
    expect(lineage.reports.length).toBeGreaterThan(0);
    for (const r of lineage.reports) expect(DEVICES).toContain(r.deviceId);
    // v2 is data-free: the engine got v1's synthetic buffer and the field's statistics, no images.
    expect(seen).toHaveLength(1);
    expect(seen[0]!.warmStart!.buffer!.size).toBe(first.buffer!.size);
    expect(Object.keys(seen[0]!)).not.toContain('train');
    // The field's statistics of the teacher's first BatchNorm (from the agents' reports) were its targets.
    expect(seen[0]!.warmStart!.bnTargets!.map((t) => t.layer)).toEqual([teacher.layers.find((x) => x.getClassName() === 'BatchNormalization')!.name]);
    expect(v2.sha256).not.toBe(v1!.pkg.manifest.model.sha256);
    const m = v2.manifest as { lineage: { parent?: { version: number } }; input: { shape: Array<number | string>; normalisation: { scale: number[] } } };
    expect(m.lineage.parent?.version).toBe(1);
    expect(m.input.shape.slice(1)).toEqual([H, H, C]);
    expect(m.input.normalisation.scale).toHaveLength(3);
  }, 240_000);
});
