import { Type, type Static, type TSchema } from 'typebox';
import { createParser, type Parser } from '../../shared/contracts/parse';
import { EdgekdError } from '../../shared/errors';
import { RolloutRequest } from '../fleet/rollout/rollout-spec';
import { LayerSketch } from '../../shared/drift/reference';
import { InputStatisticMeans } from '../../shared/drift/pool-input-statistics';
import { AdaptationSettings } from '../retrain/adaptation-settings';
import type { JobRecord } from './job-types';

/**
 * THE table of the cloud's job kinds: kind → the TypeBox schema of its parameters and of its
 * result (the same pattern as the topic table in shared/protocol/topics.ts). Parameters are parsed
 * when a job is submitted (nothing malformed is queued) and again in the child before the handler
 * runs; results are parsed when read (`jobResult`), so a caller gets a typed value or a typed
 * error, never an `unknown` to cast. A handler's return type is its kind's result type, so the
 * compiler keeps handler and table in step.
 *
 * Objects allow extra properties: a job stored by an older cloud still reads, and callers may
 * attach bookkeeping (e.g. `requestedBy`) the handler ignores.
 */

const Calibration = Type.Union([Type.Literal('minmax'), Type.Literal('percentile'), Type.Literal('entropy')]);

export const DistillJobParams = Type.Object(
  {
    teacherPath: Type.String({ minLength: 1 }),
    teacherId: Type.Optional(Type.String()),
    student: Type.String({ minLength: 1 }),
    method: Type.String({ minLength: 1 }),
    budget: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
    epochs: Type.Optional(Type.Integer({ minimum: 1 })),
    seed: Type.Optional(Type.Integer({ minimum: 0 })),
    config: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    /** Test images used by the evaluator (an even subset of the test split). */
    evalSamples: Type.Optional(Type.Integer({ minimum: 100 })),
    export: Type.Optional(Type.Boolean()),
    /** Warm start (automatic retrain): previous student folder and its saved buffer. */
    warmStartFrom: Type.Optional(Type.String()),
    /** The same folder in the artifact store, restored when `warmStartFrom` is not on this machine. */
    warmStartArtifact: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
    /** BatchNorm-matching targets from the field (drift reports), replacing the teacher's running statistics. */
    bnTargets: Type.Optional(Type.Array(Type.Object({ layer: Type.String(), mean: Type.Array(Type.Number()), variance: Type.Array(Type.Number()) }))),
    /**
     * Automatic retrain: adapt the warm-start student to the field as the in-process engines do
     * (cloud/retrain/adapt-student.ts): field imitation when a degradation is fitted from
     * `inputShift`, else BatchNorm re-estimation from `layerSketches`, else re-distillation with
     * `bnTargets`; `useFieldTargets: false` is the control. Needs `warmStartFrom` with a buffer.
     */
    adaptation: Type.Optional(
      Type.Object(
        {
          // The settings of the retrain policy in force when the run started (method, layers, fieldWeight, imitation).
          ...AdaptationSettings.properties,
          useFieldTargets: Type.Optional(Type.Boolean()),
          /** Pooled input statistics of the drifted reports and of the clean reports before them. */
          inputShift: Type.Optional(Type.Union([Type.Object({ field: InputStatisticMeans, baseline: InputStatisticMeans }), Type.Null()])),
          /** Pooled layer sketches of the served student (BatchNorm inputs). */
          layerSketches: Type.Optional(Type.Array(LayerSketch, { maxItems: 64 })),
        },
        { additionalProperties: true },
      ),
    ),
    // Read by the cloud after the run (cloud/api/pipeline.ts), not by the handler:
    /** Package name for the export (default: `<teacher>-<student>`). */
    packageName: Type.Optional(Type.String()),
    /** A rollout request without `packageId`, started once the package is registered (checked on submit, not after the run). */
    rollout: Type.Optional(Type.Omit(RolloutRequest, ['packageId'])),
    teacherSha256: Type.Optional(Type.String()),
    /** Retrain bookkeeping: the run this one re-distils and the drift reports that triggered it. */
    retrainOf: Type.Optional(Type.String()),
    /** The retrain run (cloud/retrain) this job works for: its successor cancels it if that run is interrupted. */
    retrainRunId: Type.Optional(Type.String()),
    triggerReports: Type.Optional(Type.Array(Type.Unknown())),
    requestedBy: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);

export const DistillJobResult = Type.Object(
  {
    /** The same folder as `edgekd distill --out`: student, model card, buffer, run record. */
    studentDir: Type.String({ minLength: 1 }),
    /** The student folder in the artifact store (cloud/scale/artifact-tree.ts), for processes on other machines. */
    studentArtifact: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
    method: Type.String(),
    teacherId: Type.Union([Type.String(), Type.Null()]),
    finalAccuracy: NullableNumber,
    bestAccuracy: NullableNumber,
    teacherAccuracy: NullableNumber,
    teacherSha256: Type.Union([Type.String(), Type.Null()]),
    samplesGenerated: Type.Number(),
    bufferCapacity: Type.Number(),
    epochs: Type.Number(),
    totalSeconds: Type.Number(),
    backend: Type.String(),
    /** Retrain jobs: which adaptation ran and why (adapt-student.ts summary: `adaptation`, a skipped imitation's reason, the fit). */
    adaptation: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: true },
);

export const ExportJobParams = Type.Object(
  {
    studentDir: Type.String({ minLength: 1 }),
    /** Where the student folder is restored from when `studentDir` is not on this machine. */
    studentArtifact: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
    keyFile: Type.String({ minLength: 1 }),
    /** The distillation run (job id) this student came from. */
    runId: Type.Optional(Type.String()),
    teacherPath: Type.Optional(Type.String()),
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' }),
    version: Type.Integer({ minimum: 1 }),
    parentPackageDir: Type.Optional(Type.String()),
    parentPackageArtifact: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
    calibration: Type.Optional(Calibration),
    evalLimit: Type.Optional(Type.Integer({ minimum: 1 })),
    registeredByRetrain: Type.Optional(Type.Boolean()),
    retrainRunId: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

export const ExportJobResult = Type.Object(
  {
    packageDir: Type.String({ minLength: 1 }),
    /** The package folder in the artifact store, for the fleet process registering it on another machine. */
    packageArtifact: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
    name: Type.String(),
    version: Type.Integer({ minimum: 1 }),
    sha256: Type.String(),
    bytes: Type.Number(),
    metrics: Type.Record(Type.String(), Type.Unknown()),
    runId: Type.Union([Type.String(), Type.Null()]),
    seconds: Type.Number(),
  },
  { additionalProperties: true },
);

export const TeacherImportParams = Type.Object(
  {
    onnxPath: Type.String({ minLength: 1 }),
    outDir: Type.String({ minLength: 1 }),
    dataset: Type.Optional(Type.String()),
    name: Type.Optional(Type.String()),
    requestedBy: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);

export const TeacherImportResult = Type.Object({ teacherDir: Type.String({ minLength: 1 }) }, { additionalProperties: true });

interface JobKindEntry {
  readonly params: TSchema;
  readonly result: TSchema;
  readonly summary: string;
}

export const JobKinds = {
  distill: { params: DistillJobParams, result: DistillJobResult, summary: 'Data-free distillation of a student from a BatchNorm teacher (SSD-KD and baselines).' },
  export: { params: ExportJobParams, result: ExportJobResult, summary: 'Student folder → ONNX → int8 calibrated on synthetic samples → signed package.' },
  'teacher-import': { params: TeacherImportParams, result: TeacherImportResult, summary: 'Uploaded ONNX teacher → trainable model that keeps its BatchNorm layers.' },
} as const satisfies Record<string, JobKindEntry>;

export type JobKind = keyof typeof JobKinds;
export type JobParams<K extends JobKind> = Static<(typeof JobKinds)[K]['params']>;
export type JobResult<K extends JobKind> = Static<(typeof JobKinds)[K]['result']>;

export const JOB_KIND_NAMES = Object.keys(JobKinds) as JobKind[];

export function isJobKind(kind: string): kind is JobKind {
  return Object.hasOwn(JobKinds, kind);
}

type Parsers = { [K in JobKind]: { params: Parser<(typeof JobKinds)[K]['params']>; result: Parser<(typeof JobKinds)[K]['result']> } };

// Compiled once per process (the schemas are fixed).
const parsers = Object.fromEntries(
  JOB_KIND_NAMES.map((k) => [k, {
    params: createParser(JobKinds[k].params, `${k} job parameters`, 'EDGEKD_JOB_PARAMS_INVALID'),
    result: createParser(JobKinds[k].result, `${k} job result`, 'EDGEKD_JOB_RESULT_INVALID'),
  }]),
) as Parsers;

/** Parses a kind's parameters; throws EDGEKD_JOB_PARAMS_INVALID listing every violation. */
export function parseJobParams<K extends JobKind>(kind: K, raw: unknown): JobParams<K> {
  return parsers[kind].params.parse(raw) as JobParams<K>;
}

/** Parses a kind's result; throws EDGEKD_JOB_RESULT_INVALID listing every violation. */
export function parseJobResult<K extends JobKind>(kind: K, raw: unknown): JobResult<K> {
  return parsers[kind].result.parse(raw) as JobResult<K>;
}

function expectKind(job: JobRecord, kind: JobKind): void {
  if (job.kind !== kind) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `job ${job.id} is a ${job.kind} job, not ${kind}`);
}

/** The typed parameters of a stored job of `kind`. */
export function jobParams<K extends JobKind>(job: JobRecord, kind: K): JobParams<K> {
  expectKind(job, kind);
  return parseJobParams(kind, job.params);
}

/**
 * The same, or null when the stored parameters do not match (a job queued before the table
 * checked them): for list views, which show such a job rather than fail the whole list.
 */
export function jobParamsOrNull<K extends JobKind>(job: JobRecord, kind: K): JobParams<K> | null {
  if (job.kind !== kind) return null;
  const r = parsers[kind].params.tryParse(job.params);
  return r.ok ? (r.value as JobParams<K>) : null;
}

/** The typed result of a stored job of `kind`, or null while it has none (not succeeded). */
export function jobResult<K extends JobKind>(job: JobRecord, kind: K): JobResult<K> | null {
  expectKind(job, kind);
  return job.result === null || job.result === undefined ? null : parseJobResult(kind, job.result);
}

/** What `submitJob` needs of the runner. */
export interface JobSubmitter {
  submit(kind: string, params: unknown): Promise<JobRecord>;
}

/**
 * Submits a job with parameters typed by its kind. The runner parses them at the boundary, so a
 * value the types cannot catch (a pattern, a range) fails the caller with
 * EDGEKD_JOB_PARAMS_INVALID instead of a job child later.
 */
export function submitJob<K extends JobKind>(jobs: JobSubmitter, kind: K, params: JobParams<K>): Promise<JobRecord> {
  return jobs.submit(kind, params);
}

/** What `exportJobOfPackage` needs of the runner. */
export interface JobGetter {
  get(id: string): Promise<JobRecord>;
}

/**
 * The succeeded export job that made a package, found by lookup: the manifest's lineage names its
 * export job (`exportJobId`), and the job's result must name the same model bytes. Null for a
 * package that names no job (imported, or exported before manifests carried it: such packages stay
 * readable, they just have no run link) or whose job this cloud does not have.
 */
export async function exportJobOfPackage(jobs: JobGetter, manifest: unknown): Promise<{ job: JobRecord; params: JobParams<'export'>; result: JobResult<'export'> } | null> {
  const m = (manifest ?? {}) as { lineage?: { exportJobId?: unknown }; model?: { sha256?: unknown } };
  const id = m.lineage?.exportJobId;
  if (typeof id !== 'string' || id.length === 0) return null;
  let job: JobRecord;
  try {
    job = await jobs.get(id);
  } catch (e) {
    if ((e as { code?: unknown }).code === 'EDGEKD_NOT_FOUND') return null;
    throw e;
  }
  if (job.kind !== 'export' || job.state !== 'succeeded') return null;
  const result = jobResult(job, 'export');
  if (!result || result.sha256 !== m.model?.sha256) return null;
  return { job, params: jobParams(job, 'export'), result };
}
