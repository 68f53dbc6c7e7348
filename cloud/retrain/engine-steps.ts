import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';
import type { SigningKey } from '../../shared/package/keys';
import type { ModelPackage } from '../../shared/package/build-package';
import type { ModelManifest } from '../../shared/package';
import { loadModel, saveModel } from '../zoo';
import { readModelCard } from '../zoo/model-io';
import { distillDataFree, type DataFreeDistillOptions, type WarmStart } from '../distill/distill';
import type { ReplayBuffer } from '../distill/replay-buffer';
import { planFieldImitation } from './field-imitation-step';
import type { DataFreeMethod, DistillConfigInput } from '../distill/config';
import { loadBuffer, saveBuffer } from '../distill/buffer-file';
import type { BnTarget } from '../distill/teacher';
import type { DistillEvent } from '../distill/events';
import { exportStudent } from '../export/export-student';
import { applyFieldBatchNormStatistics, studentBatchNormLayers } from './field-batchnorm';
import type { DistillOutcome, PackageOutcome, RetrainContext, RetrainSteps, RolloutOutcome } from './steps';
import { createRetrainPipeline, type RetrainEngines } from './retrain-pipeline';
import type { RolloutTarget } from '../fleet/rollout/rollout-spec';

/** The model line being retrained: where its current student, buffer and package facts live. */
export interface CurrentModel {
  /** Saved tfjs student of the deployed package (distill output folder, with buffer.json + buffer.bin). */
  studentDir: string;
  bufferDir: string;
  packageName: string;
  packageVersion: number;
  packageSha256: string;
  labels: string[];
  normalisation: ModelManifest['input']['normalisation'];
  /** Model-input range and flip invariance, from the teacher's model card. */
  inputRange: { low: number; high: number };
  flipInvariant: boolean;
}

export interface EngineStepsDeps {
  teacherDir: string;
  current: (ctx: RetrainContext) => Promise<CurrentModel>;
  /** Runs write their student, buffer and package under workDir/<runId>/. */
  workDir: string;
  signingKey: SigningKey;
  distill?: { method?: DataFreeMethod; seed?: number; config?: DistillConfigInput; onEvent?: (e: DistillEvent, ctx: RetrainContext) => void };
  calibrationCount?: number;
  /** Registers the package with the fleet and runs the canary rollout to its end (promote or roll back); `target` is the alarming cohort's. */
  rollout: (pkg: ModelPackage, ctx: RetrainContext, target: RolloutTarget) => Promise<RolloutOutcome>;
  /**
   * How the run adapts the student. `field-imitation`: fit the degradation of the family
   * (fit-degradation.ts) that reproduces the field's change of input statistics on the synthetic
   * buffer, then re-distil the deployed student from the teacher with that degradation applied to
   * part of every KD batch (field-imitation.ts; the schedule's student steps, no new synthesis).
   * `field-batchnorm`: re-estimate the deployed student's
   * BatchNorm statistics from the trigger reports' layer sketches (no re-distillation; the sketches
   * describe the deployed weights, so training first would invalidate them). `redistill`: the
   * data-free re-distillation with field BN targets (with `useFieldTargets: false`, a warm-start
   * continuation on the student's own buffer with no field information: the benchmark's control).
   * `auto` (default): `field-imitation` when a degradation is fitted from the reports' input
   * statistics, else `field-batchnorm` when the reports carry sketches, else `redistill`.
   * `useFieldTargets: false` uses no field information at all (`redistill` with no BN targets).
   */
  adaptation?: {
    method?: 'auto' | 'field-imitation' | 'field-batchnorm' | 'redistill';
    layers?: 'first' | 'all';
    fieldWeight?: number;
    useFieldTargets?: boolean;
    /** Field imitation: fraction of each KD batch degraded, and what the teacher labels (defaults: DEFAULT_FIELD_IMITATION). */
    imitation?: { fraction?: number; teacherOn?: 'clean' | 'degraded' };
  };
  /** Injected for tests and the benchmark: the engine call itself. */
  distillImpl?: (o: DataFreeDistillOptions) => ReturnType<typeof distillDataFree>;
}

/**
 * The statistics-only adaptation when the caller names none: every sketched BatchNorm, field
 * statistics mixed half and half with the student's own. Chosen on the validation stream of
 * `bench/adapt-candidates.ts` (cut from the training split): best mean gap closed over the five
 * shifts for both students among the candidates the devices' sketches support; full replacement
 * (weight 1) cost up to 38–47 clean-accuracy points on every layer. See docs/drift.md.
 */
export const DEFAULT_FIELD_ADAPTATION = { layers: 'all', fieldWeight: 0.5 } as const;

/**
 * The retrain pipeline (`retrain-pipeline.ts`) on the in-process engines, for the benchmark and
 * tests: the same steps `edgekd cloud` runs as jobs, with the rollout supplied by the caller.
 */
export function createEngineSteps(deps: EngineStepsDeps): RetrainSteps<ModelPackage> {
  return createRetrainPipeline({ engines: createInProcessEngines(deps), rollout: (pkg, target, ctx) => deps.rollout(pkg, ctx, target) });
}

/**
 * The retrain engines in this process: data-free re-distillation warm-started from the deployed
 * student and its replay buffer with the field's feature statistics as BatchNorm targets (or the
 * statistics-only adaptation from layer sketches) (cloud/distill), and ONNX export + int8
 * quantization on synthetic samples + signing (cloud/export, shared/package).
 */
export function createInProcessEngines(deps: Omit<EngineStepsDeps, 'rollout'>): RetrainEngines<ModelPackage> {
  const students = new Map<string, { model: tf.LayersModel; dir: string; current: CurrentModel; teacher: tf.LayersModel }>();
  const runDistill = async (ctx: RetrainContext, teacher: tf.LayersModel, student: tf.LayersModel, current: CurrentModel, warmStart: WarmStart, override?: DistillConfigInput) => {
    const run = deps.distillImpl ?? distillDataFree;
    const config = override ? { ...deps.distill?.config, ...override } : deps.distill?.config;
    const result = await run({
      teacher,
      student,
      method: deps.distill?.method ?? 'ssdkd',
      seed: deps.distill?.seed ?? 1,
      input: { range: current.inputRange, flipInvariant: current.flipInvariant },
      ...(config ? { config } : {}),
      warmStart,
      signal: ctx.signal,
      ...(deps.distill?.onEvent ? { onEvent: (e: DistillEvent) => deps.distill!.onEvent!(e, ctx) } : {}),
    });
    if (!result.finished) throw new EdgekdError('EDGEKD_RUN_CANCELLED', `re-distillation stopped after ${result.epochsCompleted} epochs`);
    return result;
  };
  const saveRetrained = async (ctx: RetrainContext, student: tf.LayersModel, current: CurrentModel, buffer: ReplayBuffer | null, notes: string) => {
    const dir = join(deps.workDir, ctx.runId, 'student');
    mkdirSync(dir, { recursive: true });
    const card = existsSync(join(current.studentDir, 'model-card.json')) ? readModelCard(current.studentDir) : undefined;
    await saveModel(student, dir, card ? { ...card, accuracy: null, createdAt: new Date().toISOString(), notes } : undefined);
    if (buffer) saveBuffer(dir, buffer);
    return dir;
  };
  return {
    async adapt(ctx): Promise<DistillOutcome> {
      const current = await deps.current(ctx);
      const teacher = await loadModel(deps.teacherDir);
      const student = await loadModel(current.studentDir);
      const method = deps.adaptation?.useFieldTargets === false ? 'redistill' : (deps.adaptation?.method ?? 'auto');
      let imitationSkipped: string | undefined;
      if (method === 'field-imitation' || method === 'auto') {
        const buffer = loadBuffer(current.bufferDir);
        const [h, w, c] = student.inputs[0]!.shape.slice(1) as number[];
        const plan = planFieldImitation({
          buffer,
          geometry: { height: h!, width: w!, channels: c!, range: [current.inputRange.low, current.inputRange.high] },
          inputShift: ctx.inputShift ?? undefined,
          ...(deps.adaptation?.imitation?.fraction !== undefined ? { fraction: deps.adaptation.imitation.fraction } : {}),
          ...(deps.adaptation?.imitation?.teacherOn ? { teacherOn: deps.adaptation.imitation.teacherOn } : {}),
        });
        if (plan.use) {
          // The line's schedule of student steps on the deployed student's own buffer, without new
          // synthesis: the buffer is full, and the fit and the imitation both work on it.
          const result = await runDistill(ctx, teacher, student, current, { buffer, bnTargets: [], kdInputs: plan.kdInputs }, { synthesis: { kind: 'none' } });
          const d = plan.fit.degradation;
          const dir = await saveRetrained(ctx, student, current, result.buffer, `re-distilled by retrain run ${ctx.runId} from ${current.packageName} v${current.packageVersion} imitating the teacher under the fitted field degradation ${d.kind} ${d.amount}`);
          students.set(ctx.runId, { model: student, dir, current, teacher });
          return {
            student: dir,
            distillRunId: ctx.runId,
            summary: { adaptation: 'field-imitation', degradation: d, fitDistance: plan.fit.distance, changeDistance: plan.fit.noneDistance, runnerUp: plan.fit.ranking[1] ?? null, epochs: result.epochsCompleted, studentSteps: result.studentSteps, totalSeconds: result.totalSeconds, studentDir: dir },
          };
        }
        if (method === 'field-imitation') throw new EdgekdError('EDGEKD_JOB_FAILED', `field imitation not possible: ${plan.reason}`);
        imitationSkipped = plan.reason;
      }
      if (method === 'field-batchnorm' || (method === 'auto' && (ctx.layerSketches?.length ?? 0) > 0)) {
        const sketches = ctx.layerSketches ?? [];
        const order = studentBatchNormLayers(student).map((b) => b.layer);
        const picked = (deps.adaptation?.layers ?? DEFAULT_FIELD_ADAPTATION.layers) === 'all' ? sketches : sketches.filter((k) => k.layer === order[0]);
        const r = applyFieldBatchNormStatistics(student, picked, { fieldWeight: deps.adaptation?.fieldWeight ?? DEFAULT_FIELD_ADAPTATION.fieldWeight });
        if (r.adapted.length === 0) {
          throw new EdgekdError('EDGEKD_JOB_FAILED', `no BatchNorm of the student could be re-estimated from the field (${r.skipped.map((x) => `${x.layer}: ${x.reason}`).join('; ') || 'the reports carry no layer sketches'})`);
        }
        const dir = join(deps.workDir, ctx.runId, 'student');
        mkdirSync(dir, { recursive: true });
        const card = existsSync(join(current.studentDir, 'model-card.json')) ? readModelCard(current.studentDir) : undefined;
        const note = `BatchNorm statistics re-estimated from field sketches by retrain run ${ctx.runId} (${r.adapted.map((a) => `${a.layer} n ${a.sampleCount} w ${a.weight}`).join(', ')}) from ${current.packageName} v${current.packageVersion}`;
        await saveModel(student, dir, card ? { ...card, accuracy: null, createdAt: new Date().toISOString(), notes: note } : undefined);
        // The synthetic buffer goes along unchanged: it calibrates the int8 ranges of the adapted
        // graph and is the next warm start of this line.
        saveBuffer(dir, loadBuffer(current.bufferDir));
        students.set(ctx.runId, { model: student, dir, current, teacher });
        return { student: dir, distillRunId: ctx.runId, summary: { adaptation: 'field-batchnorm', adapted: r.adapted, skipped: r.skipped, ...(imitationSkipped ? { imitationSkipped } : {}), studentDir: dir } };
      }
      const teacherBn = new Set(teacher.layers.filter((l) => l.getClassName() === 'BatchNormalization').map((l) => l.name));
      const bnTargets: BnTarget[] = (deps.adaptation?.useFieldTargets === false ? [] : ctx.featureTargets)
        .filter((t) => teacherBn.has(t.layer) && t.mean.length === t.variance.length)
        .map((t) => ({ layer: t.layer, mean: Float32Array.from(t.mean), variance: Float32Array.from(t.variance) }));
      const result = await runDistill(ctx, teacher, student, current, { buffer: loadBuffer(current.bufferDir), bnTargets });
      // The new folder carries the previous student's card (accuracy unknown: the retrain sees no
      // real data), so it is itself a valid distill output for the next retrain of this line.
      const dir = await saveRetrained(ctx, student, current, result.buffer, `re-distilled by retrain run ${ctx.runId} from ${current.packageName} v${current.packageVersion} with field BatchNorm targets (${bnTargets.map((t) => t.layer).join(', ') || 'none'})`);
      students.set(ctx.runId, { model: student, dir, current, teacher });
      return {
        student: dir,
        distillRunId: ctx.runId,
        summary: { ...(deps.adaptation?.useFieldTargets === false ? { adaptation: 'control' } : { adaptation: 'redistill', ...(imitationSkipped ? { imitationSkipped } : {}) }), epochs: result.epochsCompleted, samplesGenerated: result.samplesGenerated, bnTargets: bnTargets.map((t) => t.layer), totalSeconds: result.totalSeconds, studentDir: dir },
      };
    },

    async package(ctx, d): Promise<PackageOutcome<ModelPackage>> {
      const s = students.get(ctx.runId);
      if (!s) throw new EdgekdError('EDGEKD_JOB_STATE', `run ${ctx.runId} has no distilled student in this process`);
      // The one export flow and its defaults (int8, entropy calibration on the synthetic buffer,
      // teacher probe in the drift reference), with the layer sketches so the next drift can be
      // adapted to, and no evaluation: a retrain sees no real data.
      const [written] = await exportStudent({
        studentDir: s.dir,
        out: join(deps.workDir, ctx.runId, 'package'),
        key: deps.signingKey,
        teacherDir: deps.teacherDir,
        name: s.current.packageName,
        parent: { name: s.current.packageName, version: s.current.packageVersion, sha256: s.current.packageSha256 },
        ...(deps.calibrationCount !== undefined ? { calibrationCount: deps.calibrationCount } : {}),
        evaluate: false,
        layerSketches: true,
        madeBy: { distillationRunId: d.distillRunId },
      });
      const pkg = written!.pkg;
      const m = pkg.manifest;
      return { package: { name: m.name, version: m.version, sha256: m.model.sha256 }, artifact: pkg, summary: { precision: m.quantization.precision, bytes: pkg.model.length, packageDir: written!.dir } };
    },

    release(ctx) {
      students.get(ctx.runId)?.model.dispose();
      students.get(ctx.runId)?.teacher.dispose();
      students.delete(ctx.runId);
    },
  };
}
