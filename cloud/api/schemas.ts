import { Type, type Static } from 'typebox';
import { UPLOAD_NAME_PATTERN } from './upload-names';
import { RolloutRequest } from '../fleet/rollout/rollout-spec';
import { JobError, JobState } from '../jobs/job-types';
import { AdaptationSettings } from '../retrain/adaptation-settings';
import { RetrainPolicyChanges } from '../retrain/policy-changes';

/**
 * Response and request shapes of the HTTP API. Records that other components own (devices,
 * rollouts, drift) carry their core fields here and let the rest through (`additionalProperties`),
 * so the console can show what the component reports without this file pinning its every field.
 */
const Open = { additionalProperties: true } as const;
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
export type IdParams = Static<typeof IdParams>;

export const Teacher = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    format: Type.Union([Type.Literal('tfjs'), Type.Literal('onnx')]),
    status: Type.Union([Type.Literal('ready'), Type.Literal('importing'), Type.Literal('failed')]),
    source: Type.String({ description: 'bundled, upload or import' }),
    path: Type.String({ description: 'folder on the cloud host holding the TensorFlow.js model' }),
    sha256: Type.String(),
    createdAt: Type.Number(),
    importJobId: Nullable(Type.String()),
    info: Type.Record(Type.String(), Type.Unknown()),
  },
);
export type Teacher = Static<typeof Teacher>;

export const TeacherUpload = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 100, pattern: UPLOAD_NAME_PATTERN }),
    format: Type.Union([Type.Literal('tfjs'), Type.Literal('onnx')]),
    /**
     * File name → base64 content. tfjs: `model.json` plus every weights file its manifest names;
     * onnx: one `*.onnx` file (imported into a trainable TensorFlow.js model by a job).
     */
    files: Type.Record(Type.String({ pattern: UPLOAD_NAME_PATTERN }), Type.String({ contentEncoding: 'base64' })),
    /** ONNX only: the dataset whose class names and normalisation the teacher uses (fashion-mnist, mnist). */
    dataset: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type TeacherUpload = Static<typeof TeacherUpload>;

/** A distillation run: a `distill` job seen through its params (state and error are the job's). */
export const Run = Type.Object({
  id: Type.String(),
  state: JobState,
  teacherId: Nullable(Type.String()),
  student: Nullable(Type.String()),
  method: Nullable(Type.String()),
  params: Type.Unknown(),
  progress: Nullable(Type.Record(Type.String(), Type.Unknown())),
  result: Type.Unknown(),
  error: Nullable(JobError),
  attempt: Type.Number(),
  createdAt: Type.Number(),
  startedAt: Nullable(Type.Number()),
  finishedAt: Nullable(Type.Number()),
});
export type Run = Static<typeof Run>;

export const RunCreate = Type.Object(
  {
    teacherId: Type.String({ minLength: 1 }),
    student: Type.String({ minLength: 1, description: 'zoo architecture of the student' }),
    method: Type.Optional(Type.String({ default: 'ssdkd' })),
    budget: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1 })),
    epochs: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    seed: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Further engine settings, passed to the distillation engine which validates them. */
    config: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    /** After training: export, quantize to int8 and sign a package. */
    export: Type.Optional(Type.Boolean()),
    /** Package name (model line); default `<teacher>-<student>`. */
    packageName: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' })),
    /** After export: start this rollout (a rollout request without packageId). */
    rollout: Type.Optional(Type.Omit(RolloutRequest, ['packageId'])),
  },
  { additionalProperties: false },
);
export type RunCreate = Static<typeof RunCreate>;

/**
 * Jobs and their events are served as the runner stores them: the schemas are the job records'
 * own (cloud/jobs/job-types.ts), so a job's state stays one of its five literals in the API too.
 */
export { JobRecord as Job, JobEvent } from '../jobs/job-types';
export const EventsQuery = Type.Object({
  after: Type.Optional(Type.Integer({ minimum: 0 })),
  type: Type.Optional(Type.String()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
});
export const StreamQuery = Type.Object({
  after: Type.Optional(Type.Integer({ minimum: 0 })),
  follow: Type.Optional(Type.Boolean()),
  access_token: Type.Optional(Type.String()),
});

export const ModelPackage = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    version: Type.Number(),
    sha256: Type.String(),
    bytes: Type.Number(),
    precision: Type.String(),
    createdAt: Type.Number(),
    runId: Nullable(Type.String()),
    teacherId: Nullable(Type.String()),
    parentId: Nullable(Type.String()),
    metrics: Type.Record(Type.String(), Type.Unknown()),
  },
  Open,
);
export type ModelPackage = Static<typeof ModelPackage> & Record<string, unknown>;

export const LineageNode = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal('teacher'), Type.Literal('run'), Type.Literal('student'), Type.Literal('package'), Type.Literal('rollout'), Type.Literal('drift-alarm')]),
  label: Type.String(),
  state: Type.Optional(Type.String()),
  at: Type.Optional(Type.Number()),
});
export const LineageEdge = Type.Object({ from: Type.String(), to: Type.String(), label: Type.String() });
export const LineageGraph = Type.Object({ nodes: Type.Array(LineageNode), edges: Type.Array(LineageEdge) });
export type LineageNode = Static<typeof LineageNode>;
export type LineageEdge = Static<typeof LineageEdge>;
export type LineageGraph = Static<typeof LineageGraph>;

export const Device = Type.Object(
  {
    id: Type.String(),
    online: Type.Boolean(),
    state: Type.String(),
    modelVersion: Nullable(Type.Union([Type.String(), Type.Number()])),
    executionProvider: Nullable(Type.String()),
    lastSeen: Nullable(Type.Number()),
  },
  Open,
);
export type Device = Static<typeof Device> & Record<string, unknown>;

/** Provisioning a device (admin). Labels are checked again by the registry (letters, digits, `._:=-`). */
export const DeviceCreate = Type.Object(
  {
    deviceId: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
    groups: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 32 })),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 32 })),
  },
  { additionalProperties: false },
);
export type DeviceCreate = Static<typeof DeviceCreate>;

/** A provisioned device without secrets (only declared fields are serialised). */
export const RegisteredDevice = Type.Object({
  deviceId: Type.String(),
  groups: Type.Array(Type.String()),
  tags: Type.Array(Type.String()),
  createdAt: Type.Number(),
  revokedAt: Nullable(Type.Number()),
  presence: Type.String(),
  lastSeen: Nullable(Type.Number()),
});

/** MQTT credentials, answered once (only a salted hash is stored). */
export const DeviceCredentials = Type.Object({
  deviceId: Type.String(),
  username: Type.String(),
  password: Type.String(),
  trustedKeys: Type.Optional(Type.Unknown({ description: 'the signing keys the device must trust (trusted-keys.json)' })),
});

export const Rollout = Type.Object(
  {
    id: Type.String(),
    status: Type.String(),
    createdAt: Type.Number(),
    updatedAt: Type.Number(),
  },
  Open,
);
export type Rollout = Static<typeof Rollout> & Record<string, unknown>;

export const RolloutCreate = Type.Object(
  {
    packageId: Type.String({ minLength: 1 }),
    target: Type.Object(
      {
        groups: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
        tags: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
        devices: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: true, description: 'waves, gates, bakeMs, timeouts, rollbackScope, delivery: checked by the fleet controller' },
);
export type RolloutCreate = Static<typeof RolloutCreate>;

export const AbortBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) });

export const DriftRecord = Type.Object({ id: Type.String() }, Open);
export type DriftRecord = Static<typeof DriftRecord> & Record<string, unknown>;

/**
 * A change of the automatic retrain policy: the fields of the retrain component's own schema
 * (cloud/retrain/policy-changes.ts), every one optional, plus the pause switch. Unknown fields and
 * out-of-range values are refused (400, nothing stored).
 */
export const RetrainPolicyUpdate = Type.Object(
  { ...RetrainPolicyChanges.properties, paused: Type.Optional(Type.Boolean({ description: 'pause (true) or resume (false) automatic retraining' })) },
  { additionalProperties: false },
);
export type RetrainPolicyUpdate = Static<typeof RetrainPolicyUpdate>;

/** The retrain policy in force: every field, `adaptation` with its defaults filled, and the pause switch. */
export const RetrainPolicy = Type.Object(
  {
    minAlarmDurationMs: Type.Number(),
    cooldownMs: Type.Number(),
    computeBudgetMsPerDay: Type.Number(),
    estimatedRunMs: Type.Number(),
    maxConcurrentRuns: Type.Number(),
    adaptation: AdaptationSettings,
    paused: Type.Boolean(),
  },
  Open,
);

export const Health = Type.Object({
  status: Type.Literal('ok'),
  version: Type.String(),
  components: Type.Record(Type.String(), Type.Boolean()),
});

export const Me = Type.Object({ name: Type.String(), role: Type.String() });
