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
import { adaptStudent, type AdaptationOptions } from './adapt-student';
import type { DataFreeMethod, DistillConfigInput } from '../distill/config';
import { loadBuffer, saveBuffer } from '../distill/buffer-file';
import type { DistillEvent } from '../distill/events';
import { exportStudent } from '../export/export-student';
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
   * How the run adapts the student (adapt-student.ts), over the run's own (`RetrainContext.adaptation`,
   * the retrain policy's): the benchmark's flags and its no-field-information control.
   */
  adaptation?: AdaptationOptions;
  /** Injected for tests and the benchmark: the engine call itself. */
  distillImpl?: (o: DataFreeDistillOptions) => ReturnType<typeof distillDataFree>;
}

// Re-exported: callers of the in-process engines (bench, tests) name the default from here.
export { DEFAULT_FIELD_ADAPTATION } from './adaptation-settings';

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
      const a = await adaptStudent({
        teacher,
        student,
        buffer: loadBuffer(current.bufferDir),
        inputRange: current.inputRange,
        field: ctx,
        adaptation: { ...ctx.adaptation, ...deps.adaptation },
        distill: (warmStart, override) => runDistill(ctx, teacher, student, current, warmStart, override),
      });
      // The new folder carries the previous student's card (accuracy unknown: the retrain sees no
      // real data), so it is itself a valid distill output for the next retrain of this line.
      const how = a.kind === 'field-batchnorm' ? 'adapted' : 're-distilled';
      const dir = await saveRetrained(ctx, student, current, a.buffer, `${how} by retrain run ${ctx.runId} from ${current.packageName} v${current.packageVersion}: ${a.note}`);
      students.set(ctx.runId, { model: student, dir, current, teacher });
      return { student: dir, distillRunId: ctx.runId, summary: { ...a.summary, studentDir: dir } };
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
