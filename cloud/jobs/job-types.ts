import { Type, type Static } from 'typebox';
import type { EdgekdError } from '../../shared/errors';

/**
 * A job's life: queued → running → succeeded | failed | cancelled. A failed or cancelled job can
 * be resumed (back to queued, with `resume` set so the handler continues from its checkpoint).
 * A job whose runner died stays `running` until its lease expires (or its own runner restarts),
 * then goes back to queued with `resume` set.
 */
export const JobState = Type.Union([
  Type.Literal('queued'),
  Type.Literal('running'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
  Type.Literal('cancelled'),
]);
export type JobState = Static<typeof JobState>;

export const JobError = Type.Object({
  code: Type.String(),
  message: Type.String(),
  category: Type.String(),
  retryable: Type.Boolean(),
});
export type JobError = Static<typeof JobError>;

export const JobRecord = Type.Object({
  id: Type.String(),
  kind: Type.String(),
  state: JobState,
  params: Type.Unknown(),
  result: Type.Union([Type.Unknown(), Type.Null()]),
  error: Type.Union([JobError, Type.Null()]),
  /** The last progress event, so a list view needs no event query. */
  progress: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  attempt: Type.Number(),
  resume: Type.Boolean(),
  cancelRequested: Type.Boolean(),
  owner: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.Number(),
  updatedAt: Type.Number(),
  startedAt: Type.Union([Type.Number(), Type.Null()]),
  finishedAt: Type.Union([Type.Number(), Type.Null()]),
});
export type JobRecord = Static<typeof JobRecord>;

/** A progress event as the handler emits it: a `type` plus any JSON fields. */
export const JobEventData = Type.Object({ type: Type.String() }, { additionalProperties: true });
export type JobEventData = Static<typeof JobEventData> & Record<string, unknown>;

/** A stored progress event; `seq` increases by one per job, across attempts. */
export const JobEvent = Type.Object({
  jobId: Type.String(),
  seq: Type.Number(),
  at: Type.Number(),
  type: Type.String(),
  data: Type.Record(Type.String(), Type.Unknown()),
});
export type JobEvent = Static<typeof JobEvent>;

/** What the handler module sees in the child process. */
export interface JobContext {
  readonly jobId: string;
  readonly attempt: number;
  /** True when an earlier attempt ran: continue from the checkpoint in `workDir` if there is one. */
  readonly resume: boolean;
  /** A folder owned by this job, kept across attempts. */
  readonly workDir: string;
  /** Aborted when the job is cancelled or the runner shuts down; the handler should stop soon. */
  readonly signal: AbortSignal;
  emit(event: JobEventData): void;
}

/** A handler module exports `run` (the child imports it by path). */
export type JobHandler = (params: unknown, ctx: JobContext) => Promise<unknown>;

// ── IPC between runner and child ──────────────────────────────────────────
export const ToChild = Type.Union([
  Type.Object({
    t: Type.Literal('start'),
    module: Type.String(),
    job: Type.Object({ id: Type.String(), kind: Type.String(), params: Type.Unknown(), attempt: Type.Number(), resume: Type.Boolean(), workDir: Type.String() }),
  }),
  Type.Object({ t: Type.Literal('cancel'), reason: Type.String() }),
]);
export type ToChild = Static<typeof ToChild>;

export const FromChild = Type.Union([
  Type.Object({ t: Type.Literal('ready') }),
  Type.Object({ t: Type.Literal('event'), event: JobEventData }),
  Type.Object({ t: Type.Literal('done'), result: Type.Unknown() }),
  Type.Object({ t: Type.Literal('fail'), error: JobError }),
]);
export type FromChild = Static<typeof FromChild>;

export function jobErrorOf(e: EdgekdError): JobError {
  return { code: e.code, message: e.message, category: e.category, retryable: e.retryable };
}
