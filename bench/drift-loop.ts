import { join } from 'node:path';
import { openSqlite } from '../cloud/store/sqlite-db';
import { createLogger } from '../shared/log/logger';
import { createDriftService, type DriftAction } from '../cloud/drift/drift-service';
import { createRetrainController, type RetrainRun } from '../cloud/retrain/retrain-controller';
import { createEngineSteps, type EngineStepsDeps } from '../cloud/retrain/engine-steps';
import { currentModelFromDistillOutput } from '../cloud/retrain/current-model';
import { DEFAULT_RETRAIN_POLICY, type RetrainPolicy } from '../cloud/retrain/policy';
import type { RetrainContext, RolloutOutcome } from '../cloud/retrain/steps';
import type { DistillConfigInput } from '../cloud/distill/config';
import { assertPackageValid, writePackageDir, type ModelManifest, type ModelPackage } from '../shared/package';
import type { DriftReportEnvelope } from '../shared/protocol';
import { createRandom } from '../shared/random/seeded-random';
import { applyImageShift, type ImageGeometry, type ImageShiftKind } from '../shared/drift/shifts';
import { createSimFleet } from './drift-fleet-sim';
import type { DeployedPackage } from './drift-deploy';
import { startCanaryFleet } from './drift-canary';

/** Everything about the loop that is a choice of the benchmark (printed with the results). */
export interface LoopConfig {
  devices: number;
  /** Inferences per second per device: the stream stands for this much device time. */
  inferencesPerSecond: number;
  /** Images per `infer` call (a camera batch). */
  batch: number;
  reportEveryMs: number;
  /** The cloud's evaluation timer (`drift.evaluate` + `retrain.tick`), in stream time. */
  tickEveryMs: number;
  baselineSamples: number;
  /** Clean inferences per device after the field baseline, before the shift. */
  cleanAfterBaseline: number;
  /** Shifted inferences per device after which the benchmark gives up waiting for a retrain. */
  maxShiftedPerDevice: number;
  /** Overrides of the production retrain policy ({} = DEFAULT_RETRAIN_POLICY). */
  policy: Partial<RetrainPolicy>;
  /** The re-distillation schedule (merged over the ssdkd preset by cloud/distill). */
  retrain: { method: 'ssdkd'; seed: number; config: DistillConfigInput };
  /** How the retrain adapts (engine-steps `adaptation`; default auto: field BatchNorm re-estimation when the reports carry layer sketches). */
  adaptation?: EngineStepsDeps['adaptation'];
  /**
   * `canary` (default): the package goes through the fleet canary with ML-quality gates on real
   * agents (bench/drift-canary.ts), as in production; `direct`: verified and installed on the
   * simulated devices with no canary (faster, for quick checks only).
   */
  rollout?: 'canary' | 'direct';
}

export interface LoopTimeline {
  /** Shifted inferences per device until the first device's monitor confirmed an alarm. */
  firstDeviceAlarmSamples: number | null;
  /** Stream time (at `inferencesPerSecond`) from the shift to the retrain decision. */
  shiftToDecisionStreamMs: number | null;
  /** Wall time of the benchmark from the first shifted inference to the committed new model. */
  shiftToCommitWallMs: number | null;
  /** Of which: streaming and evaluating until the decision (bench speed, not device speed). */
  streamWallMs: number | null;
  steps: Array<{ name: string; ms: number }>;
  /** Modelled field time: stream time to the decision plus the pipeline's wall time. */
  shiftToCommitFieldMs: number | null;
}

export interface LoopRun {
  status: 'promoted' | 'rolled-back' | 'failed' | 'cancelled' | 'no-decision' | 'started-before-shift';
  reason: string;
  run: RetrainRun | null;
  packageDir: string | null;
  manifest: ModelManifest | null;
  timeline: LoopTimeline;
  actions: DriftAction[];
  featureTargets: string[];
  /** Cohort alarms opened on the clean stream, before the shift (false alarms at fleet level). */
  preShiftCohortAlarms: number;
}

const EPOCH_MS = 1_800_000_000_000;

/**
 * The automatic loop on the production code path: simulated devices (the agent's runtime and
 * drift monitor) stream the field images, clean then shifted; their reports go through the cloud
 * drift service (FDR + quorum, cohort alarms); the retrain controller's policy decides on its own,
 * and its engine steps re-distil warm-started from the deployed student and buffer with the
 * reports' pooled BatchNorm statistics as targets and build the signed int8 package. The rollout
 * step is the production one, `fleetCanaryRollout`, on a real fleet in this process (embedded
 * broker, fleet controller, real agents serving the shifted field: bench/drift-canary.ts); only a
 * promoted package is then installed on the simulated devices. Nothing but the reports' statistics
 * leaves the devices: labels are never read, images never reach distillation.
 *
 * Time: devices run on a stream clock (`inferencesPerSecond`), so the policy's persistence rule
 * is applied in device time; once the decision is taken the clock runs in real time, so step
 * durations and the compute budget are wall time.
 */
export async function runRetrainLoop(o: {
  config: LoopConfig;
  deployed: DeployedPackage;
  studentDir: string;
  teacherDir: string;
  workDir: string;
  /** Field images in model units (never labelled here), NHWC. */
  field: { images: Float32Array; count: number };
  geometry: ImageGeometry;
  shift: { kind: ImageShiftKind; severity: number };
  seed: number;
  log: (m: string) => void;
}): Promise<LoopRun> {
  const c = o.config;
  let streamNow = EPOCH_MS;
  let realAnchor: number | null = null;
  const clock = () => (realAnchor === null ? streamNow : streamNow + (Date.now() - realAnchor));
  const quiet = createLogger('bench-loop', 'warn');
  const db = openSqlite(':memory:');
  const drift = createDriftService({ db, clock, logger: quiet });
  await drift.migrate();

  const pending: DriftReportEnvelope[] = [];
  const fleet = await createSimFleet({ devices: c.devices, clock, seed: o.seed, baselineSamples: c.baselineSamples, reportEveryMs: c.reportEveryMs, onReport: (e) => pending.push(e) });
  await fleet.install(o.deployed.dir, o.deployed.manifest);
  let committed: { dir: string; manifest: ModelManifest; at: number } | null = null;
  const per = o.geometry.height * o.geometry.width * o.geometry.channels;

  // The canary fleet's agents serve the shifted field while the rollout runs (shadow, bake).
  const feedRnd = createRandom(o.seed + 977);
  const canary =
    (c.rollout ?? 'canary') === 'canary'
      ? await startCanaryFleet({
          devices: c.devices,
          deployed: o.deployed,
          workDir: join(o.workDir, 'canary-fleet'),
          log: o.log,
          feed: (_agent, manifest) => {
            const { scale, offset } = manifest.input.normalisation;
            const raw = new Float32Array(c.batch * per);
            for (let k = 0; k < c.batch; k++) {
              const j = feedRnd.int(o.field.count);
              const x = applyImageShift(o.field.images.subarray(j * per, (j + 1) * per), o.shift.kind, o.shift.severity, o.geometry, feedRnd);
              for (let i = 0; i < per; i++) raw[k * per + i] = (x[i]! - offset[0]!) / scale[0]!;
            }
            return { dtype: 'float32', shape: [c.batch, ...manifest.input.shape.slice(1).map(Number)], data: raw as unknown as number[] };
          },
        })
      : null;

  const rollout = async (pkg: ModelPackage, ctx: RetrainContext): Promise<RolloutOutcome> => {
    // What an agent checks before installing; a package that fails never reaches a device.
    const manifest = assertPackageValid(pkg, o.deployed.trusted);
    const dir = join(o.workDir, ctx.runId, 'package');
    await writePackageDir(dir, pkg);
    if (canary) {
      const out = await canary.rollout(pkg, ctx);
      o.log(`canary rollout ${out.rolloutId}: ${out.outcome}; agents serve ${canary.active().join(', ')}; gates ${JSON.stringify(out.gates)}`);
      const summary = { ...out.summary, mode: 'fleet canary with ML-quality gates on real agents', gates: out.gates };
      if (out.outcome !== 'promoted') return { outcome: out.outcome, rolloutId: out.rolloutId, summary };
      await fleet.install(dir, manifest);
      committed = { dir, manifest, at: Date.now() };
      return { outcome: out.outcome, rolloutId: out.rolloutId, summary };
    }
    await fleet.install(dir, manifest);
    committed = { dir, manifest, at: Date.now() };
    return { outcome: 'promoted', rolloutId: `bench-direct-${ctx.runId}`, summary: { mode: 'verified and installed on every simulated device, no canary', devices: c.devices } };
  };
  let lastEpochLog = 0;
  const steps = createEngineSteps({
    teacherDir: o.teacherDir,
    workDir: o.workDir,
    signingKey: o.deployed.key,
    current: async () => currentModelFromDistillOutput(o.studentDir, o.deployed.manifest),
    distill: {
      method: c.retrain.method,
      seed: c.retrain.seed,
      config: c.retrain.config,
      onEvent: (e) => {
        if (e.type === 'start') o.log(`retrain distill: ${e.epochs} epochs, ${e.synthesisRounds} synthesis rounds, buffer ${e.bufferCapacity}, ${e.kdStepsPerEpoch} KD steps/epoch`);
        if (e.type === 'epoch' && Date.now() - lastEpochLog > 5000) {
          lastEpochLog = Date.now();
          o.log(`retrain distill epoch ${e.epoch + 1}/${e.epochs}: kd loss ${e.kdLoss?.toFixed(4) ?? '-'}, buffer ${e.bufferSize}/${e.bufferCapacity}, ${e.elapsedSeconds.toFixed(0)} s`);
        }
      },
    },
    rollout,
    ...(c.adaptation ? { adaptation: c.adaptation } : {}),
  });
  const controller = createRetrainController({ db, clock, drift, steps, policy: c.policy, logger: quiet });

  const rnd = createRandom(o.seed + 4242);
  const draw = (shifted: boolean, out: Float32Array, k: number) => {
    const j = rnd.int(o.field.count);
    const x = o.field.images.subarray(j * per, (j + 1) * per);
    out.set(shifted ? applyImageShift(x, o.shift.kind, o.shift.severity, o.geometry, rnd) : x, k * per);
  };
  let nextTick = streamNow + c.tickEveryMs;
  let runId: string | null = null;
  const ingestAndTick = async (): Promise<void> => {
    while (pending.length) await drift.ingest(pending.shift()!);
    if (streamNow < nextTick) return;
    nextTick += c.tickEveryMs;
    for (const r of await controller.tick()) if (r.decision.action === 'start' && r.runId) runId = r.runId;
  };
  /** One round: every device infers one batch; stream time advances by one batch at the device rate. */
  const round = async (shifted: boolean): Promise<void> => {
    const images = new Float32Array(c.batch * per);
    for (let d = 0; d < c.devices; d++) {
      for (let k = 0; k < c.batch; k++) draw(shifted, images, k);
      await fleet.infer(d, images, c.batch);
    }
    streamNow += (c.batch / c.inferencesPerSecond) * 1000;
    await ingestAndTick();
  };

  const before = c.baselineSamples + c.cleanAfterBaseline;
  for (let n = 0; n < before && !runId; n += c.batch) await round(false);
  const baselineDone = fleet.devices.filter((d) => d.monitor.state().referenceSource === 'field-baseline').length;
  o.log(`loop: ${c.devices} devices streamed ${before} clean inferences each (field baseline adopted on ${baselineDone}); shift ${o.shift.kind}/${o.shift.severity} starts`);
  let shiftStream = Infinity;
  const timeline: LoopTimeline = { firstDeviceAlarmSamples: null, shiftToDecisionStreamMs: null, shiftToCommitWallMs: null, streamWallMs: null, steps: [], shiftToCommitFieldMs: null };
  const finish = async (status: LoopRun['status'], reason: string, run: RetrainRun | null): Promise<LoopRun> => {
    const actions = (await drift.actions(200)).reverse();
    await canary?.close();
    await fleet.release();
    await db.close();
    const preShiftCohortAlarms = actions.filter((a) => a.kind === 'cohort-alarm-opened' && a.at < shiftStream).length;
    return { status, reason, run, packageDir: committed?.dir ?? null, manifest: committed?.manifest ?? null, timeline, actions, featureTargets: [], preShiftCohortAlarms };
  };
  if (runId) {
    // A false alarm on the clean stream: stop the run at its next step boundary, as an operator's
    // pause would, and report it instead of measuring a retrain the shift did not cause.
    realAnchor = Date.now();
    await controller.pause('bench: the retrain started before the shift', 'bench');
    await controller.idle();
    return finish('started-before-shift', 'a retrain started on the clean stream (a false alarm)', await controller.run(runId));
  }

  const shiftWall = Date.now();
  shiftStream = streamNow;
  for (let n = 0; n < c.maxShiftedPerDevice && !runId; n += c.batch) {
    await round(true);
    if (timeline.firstDeviceAlarmSamples === null && fleet.devices.some((d) => d.monitor.state().alarmActive)) timeline.firstDeviceAlarmSamples = n + c.batch;
  }
  if (!runId) return finish('no-decision', `no retrain decision within ${c.maxShiftedPerDevice} shifted inferences per device`, null);
  timeline.shiftToDecisionStreamMs = streamNow - shiftStream;
  timeline.streamWallMs = Date.now() - shiftWall;
  o.log(`loop: retrain ${runId} started by the controller after ${((streamNow - shiftStream) / 1000).toFixed(0)} s of stream time (${(timeline.streamWallMs / 1000).toFixed(1)} s wall)`);
  // From here the devices would keep serving the old model; the benchmark stops streaming so the
  // pipeline has the CPU, and the clock runs in real time.
  realAnchor = Date.now();
  await controller.idle();
  const run = await controller.run(runId);
  timeline.steps = (run?.steps ?? []).map((s) => ({ name: s.name, ms: s.ms }));
  if (committed) {
    timeline.shiftToCommitWallMs = (committed as { at: number }).at - shiftWall;
    timeline.shiftToCommitFieldMs = timeline.shiftToDecisionStreamMs + ((committed as { at: number }).at - realAnchor);
  }
  const result = await finish(run?.state === 'promoted' || run?.state === 'rolled-back' || run?.state === 'failed' || run?.state === 'cancelled' ? run.state : 'failed', run?.error ?? run?.outcome ?? 'run did not end', run);
  const started = result.actions.find((a) => a.kind === 'retrain-started');
  result.featureTargets = ((started?.details.featureTargets as string[] | undefined) ?? []).slice();
  return result;
}

export const DEFAULT_LOOP_CONFIG: Omit<LoopConfig, 'retrain'> = {
  devices: 3,
  inferencesPerSecond: 5,
  batch: 8,
  reportEveryMs: 60_000,
  tickEveryMs: 60_000,
  baselineSamples: 4000,
  cleanAfterBaseline: 1024,
  maxShiftedPerDevice: 12_000,
  policy: {},
};

/** The policy the loop runs under: production defaults with the benchmark's overrides. */
export function effectivePolicy(c: LoopConfig): RetrainPolicy {
  return { ...DEFAULT_RETRAIN_POLICY, ...c.policy };
}

/**
 * The control of a loop row: the same engine steps and retrain schedule with no field information
 * (a warm-start continuation of the deployed student on its own replay buffer, no BN targets, no
 * sketches), packaged and verified like the loop's model. It does not depend on the shift, so one
 * control per student and seed serves every shift.
 */
export async function runControlRetrain(o: { config: LoopConfig; deployed: DeployedPackage; studentDir: string; teacherDir: string; workDir: string; log: (m: string) => void }): Promise<{ packageDir: string; manifest: ModelManifest; ms: number }> {
  const c = o.config;
  let out: { packageDir: string; manifest: ModelManifest } | null = null;
  const steps = createEngineSteps({
    teacherDir: o.teacherDir,
    workDir: o.workDir,
    signingKey: o.deployed.key,
    current: async () => currentModelFromDistillOutput(o.studentDir, o.deployed.manifest),
    distill: { method: c.retrain.method, seed: c.retrain.seed, config: c.retrain.config },
    adaptation: { method: 'redistill', useFieldTargets: false },
    rollout: async (pkg, ctx) => {
      const manifest = assertPackageValid(pkg, o.deployed.trusted);
      const packageDir = join(o.workDir, ctx.runId, 'package');
      await writePackageDir(packageDir, pkg);
      out = { packageDir, manifest };
      return { outcome: 'promoted', rolloutId: `control-${ctx.runId}`, summary: {} };
    },
  });
  const t0 = Date.now();
  const ctx = { runId: `control-${c.retrain.seed}`, cohort: 'control', model: { name: o.deployed.manifest.name, version: String(o.deployed.manifest.version) }, triggerReports: [], featureTargets: [], layerSketches: [], signal: new AbortController().signal };
  const d = await steps.distill(ctx);
  const p = await steps.package(ctx, d);
  await steps.rollout(ctx, p);
  o.log(`control retrain (no field information) done in ${((Date.now() - t0) / 60_000).toFixed(1)} min`);
  return { ...out!, ms: Date.now() - t0 };
}

/**
 * The re-distillation schedule of the loop. A retrain starts from a trained student and its full
 * buffer, so it needs no synthesis-only warm-up and far fewer rounds than a cold run; quick mode
 * keeps the whole benchmark under 10 minutes on 2 shared cores. The budget sets both the rounds
 * (budget · N · 2 / 32 for ssdkd) and the buffer capacity the warm buffer is cut to.
 */
export function retrainSchedule(quick: boolean): DistillConfigInput {
  return quick ? { budget: 0.1, epochs: 6, warmupEpochs: 0, kdStepsPerEpoch: 100 } : { budget: 0.1, epochs: 10, warmupEpochs: 0, kdStepsPerEpoch: 100 };
}
