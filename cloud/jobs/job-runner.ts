import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { EdgekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log/logger';
import { SerialQueue } from '../store/serial-queue';
import { migrate, type SqlDb } from '../store/sql-db';
import { startChild, type ChildHandle } from './child-executor';
import { isJobKind, parseJobParams } from './job-kinds';
import { jobMigrations } from './job-migrations';
import { JobRepository } from './job-repository';
import type { ArtifactStore } from '../scale/artifact-store';
import { restoreCheckpoint } from './job-artifacts';
import type { JobError, JobEvent, JobEventData, JobRecord, JobState } from './job-types';

export interface JobKindSpec {
  /** Absolute path (or file URL) of the handler module the child imports; it exports `run`. */
  readonly module: string;
}

export type JobNotice = { kind: 'event'; event: JobEvent } | { kind: 'state'; job: JobRecord };
export type JobListener = (notice: JobNotice) => void;

export interface JobRunnerOptions {
  readonly db: SqlDb;
  readonly kinds: Readonly<Record<string, JobKindSpec>>;
  /** Jobs running at once (each is one child process). */
  readonly concurrency: number;
  /** Folder under which each job gets `<id>/` as its work dir. */
  readonly dataDir: string;
  /**
   * Id of this runner (the cloud process id): the lease owner of the jobs it runs. A restarted
   * cloud with the same id takes its running jobs back at once; jobs of a runner that is gone
   * return to the queue once their lease lapses.
   */
  readonly owner?: string;
  readonly leaseMs?: number;
  readonly pollMs?: number;
  readonly cancelGraceMs?: number;
  readonly now?: () => number;
  readonly newId?: () => string;
  readonly env?: NodeJS.ProcessEnv;
  readonly log?: Logger;
  /**
   * Carries notices between cloud processes sharing the store (PostgreSQL LISTEN/NOTIFY), so a
   * subscriber here sees the progress of a job that runs in another process. Default: none.
   */
  readonly bus?: JobNoticeBus;
  /**
   * Where handlers put checkpoints (cloud/jobs/job-artifacts.ts): a job resumed here restores the
   * last checkpoint it announced, so a job of a worker that died resumes on another machine.
   */
  readonly artifacts?: ArtifactStore;
}

/** What crosses processes: which job changed; the receiver reads the event or state from the store. */
export interface JobNoticeRef {
  readonly jobId: string;
  readonly kind: 'event' | 'state';
  readonly seq?: number;
}

export interface JobNoticeBus {
  /** Sends in call order; never throws (a lost notice only delays a live view, the store has it). */
  publish(notice: JobNoticeRef): void;
  /** Receives the notices other processes published, in their order; returns how to stop. */
  listen(onNotice: (notice: JobNoticeRef) => Promise<void>): Promise<() => Promise<void>>;
}

export interface JobRunner {
  /** Applies the `jobs-` migrations, takes back orphaned jobs, and starts pulling work. */
  start(): Promise<void>;
  /** Stops pulling work; running children are stopped and their jobs queued again (resumable). */
  stop(): Promise<void>;
  /**
   * Queues a job. Parameters of a kind in the job-kind table (job-kinds.ts) are parsed first
   * (EDGEKD_JOB_PARAMS_INVALID); cloud code calls `submitJob`, which types them by kind.
   */
  submit(kind: string, params: unknown): Promise<JobRecord>;
  cancel(id: string): Promise<JobRecord>;
  resume(id: string): Promise<JobRecord>;
  get(id: string): Promise<JobRecord>;
  list(filter?: { kind?: string; state?: JobState; limit?: number }): Promise<JobRecord[]>;
  events(id: string, afterSeq?: number, opts?: { limit?: number; type?: string }): Promise<JobEvent[]>;
  countByState(): Promise<Record<string, number>>;
  /**
   * Appends an event to a job from this process (what happened after it: export, package,
   * rollout), stored and published like the child's own events.
   */
  note(id: string, event: JobEventData): Promise<void>;
  /** Live notices for one job id, or '*' for all. Returns the unsubscribe function. */
  subscribe(id: string, listener: JobListener): () => void;
  readonly kinds: readonly string[];
  running(): number;
}

interface Running {
  readonly job: JobRecord;
  readonly child: ChildHandle;
  readonly writes: SerialQueue;
  seq: number;
  outcome: { state: 'succeeded'; result: unknown } | { state: 'failed'; error: JobError } | null;
  cancelling: boolean;
  killTimer?: NodeJS.Timeout;
}

/**
 * The persisted job queue: rows in `edgekd_jobs` (SQLite or PostgreSQL through SqlDb), each
 * claimed by one runner under a lease and run in its own child process, at most `concurrency` at
 * once. Progress events from the child go to `edgekd_job_events` first and to live subscribers
 * second, so a subscriber that replays from the store and then listens misses nothing.
 */
export function createJobRunner(opts: JobRunnerOptions): JobRunner {
  const repo = new JobRepository(opts.db);
  const now = opts.now ?? Date.now;
  const newId = opts.newId ?? (() => randomUUID());
  const owner = opts.owner ?? `runner-${randomUUID().slice(0, 8)}`;
  const leaseMs = opts.leaseMs ?? 30_000;
  const pollMs = opts.pollMs ?? 1_000;
  const graceMs = opts.cancelGraceMs ?? 5_000;
  const kinds = Object.keys(opts.kinds);
  const running = new Map<string, Running>();
  const listeners = new Map<string, Set<JobListener>>();
  let timer: NodeJS.Timeout | undefined;
  let leaseTimer: NodeJS.Timeout | undefined;
  let started = false;
  let stopping = false;
  let pumping = false;
  let pumpAgain = false;
  let lastReclaim = -Infinity;
  /** Serialises notes on jobs that are not running here (their seq comes from the store). */
  const notes = new SerialQueue();

  /** Delivers a notice to this process's listeners only. */
  const deliver = (id: string, notice: JobNotice): void => {
    for (const key of [id, '*']) {
      for (const l of listeners.get(key) ?? []) {
        try {
          l(notice);
        } catch (e) {
          opts.log?.warn({ err: e }, 'job listener threw');
        }
      }
    }
  };

  /** A notice that happened here: local listeners, then the other cloud processes (when a bus is set). */
  const notify = (id: string, notice: JobNotice): void => {
    deliver(id, notice);
    opts.bus?.publish(notice.kind === 'event' ? { jobId: id, kind: 'event', seq: notice.event.seq } : { jobId: id, kind: 'state' });
  };

  /** A notice from another process: the bus carries only ids, the store has the content. */
  const fromElsewhere = async (n: JobNoticeRef): Promise<void> => {
    if (n.kind === 'state') {
      const job = await repo.get(n.jobId);
      if (job) deliver(n.jobId, { kind: 'state', job });
    } else if (n.seq !== undefined) {
      const [event] = await repo.events(n.jobId, n.seq - 1, 1);
      if (event) deliver(n.jobId, { kind: 'event', event });
    }
  };
  let unlistenBus: (() => Promise<void>) | undefined;

  const mustGet = async (id: string): Promise<JobRecord> => {
    const job = await repo.get(id);
    if (!job) throw new EdgekdError('EDGEKD_NOT_FOUND', `no job ${id}`);
    return job;
  };

  const publishState = async (id: string): Promise<void> => {
    const job = await repo.get(id);
    if (job) notify(id, { kind: 'state', job });
  };

  async function launch(job: JobRecord): Promise<void> {
    const workDir = join(opts.dataDir, job.id);
    mkdirSync(workDir, { recursive: true });
    if (job.resume && opts.artifacts) {
      const checkpoints = await repo.events(job.id, 0, 100_000, 'checkpoint');
      const last = checkpoints[checkpoints.length - 1];
      if (last) {
        await restoreCheckpoint(opts.artifacts, workDir, last.data).then(
          (ok) => ok && opts.log?.info({ job: job.id, seq: last.seq }, 'restored the last checkpoint from the artifact store'),
          (err: unknown) => opts.log?.warn({ err, job: job.id }, 'could not restore the last checkpoint; the job resumes from what its work dir holds'),
        );
      }
    }
    const seq = await repo.lastSeq(job.id);
    const entry: Running = { job, child: undefined as unknown as ChildHandle, writes: new SerialQueue(), seq, outcome: null, cancelling: false };
    const child = startChild({
      env: opts.env,
      onInvalid: (err) => opts.log?.warn({ err, job: job.id }, 'dropped a malformed message from a job child'),
      onMessage: (msg) => {
        if (msg.t === 'ready') {
          child.send({ t: 'start', module: opts.kinds[job.kind]!.module, job: { id: job.id, kind: job.kind, params: job.params, attempt: job.attempt, resume: job.resume, workDir } });
        } else if (msg.t === 'event') {
          const s = ++entry.seq;
          const at = now();
          const ev: JobEventData = msg.event;
          void entry.writes.run(async () => {
            await repo.appendEvent(job.id, s, at, ev);
            const { type, ...data } = ev;
            notify(job.id, { kind: 'event', event: { jobId: job.id, seq: s, at, type, data } });
          }).catch((e) => opts.log?.error({ err: e, job: job.id }, 'could not store a job event'));
        } else if (msg.t === 'done') {
          entry.outcome = { state: 'succeeded', result: msg.result };
        } else if (msg.t === 'fail') {
          entry.outcome = { state: 'failed', error: msg.error };
        }
      },
    });
    (entry as { child: ChildHandle }).child = child;
    running.set(job.id, entry);
    opts.log?.info({ job: job.id, kind: job.kind, attempt: job.attempt, pid: child.pid }, 'job started');
    notify(job.id, { kind: 'state', job });
    void child.exited.then((code) => finalize(entry, code));
  }

  async function finalize(entry: Running, code: number | string): Promise<void> {
    const id = entry.job.id;
    if (entry.killTimer) clearTimeout(entry.killTimer);
    try {
      await entry.writes.run(async () => undefined); // every event stored before the final state
      const at = now();
      if (entry.outcome?.state === 'succeeded') {
        await repo.finish(id, owner, { state: 'succeeded', result: entry.outcome.result }, at);
      } else if (stopping && !entry.cancelling) {
        await repo.requeue(id, owner, at);
      } else if (entry.cancelling) {
        await repo.finish(id, owner, { state: 'cancelled', error: { code: 'EDGEKD_RUN_CANCELLED', message: 'cancelled; resume continues from the last checkpoint', category: 'conflict', retryable: true } }, at);
      } else {
        const error: JobError = entry.outcome?.state === 'failed'
          ? entry.outcome.error
          : { code: 'EDGEKD_JOB_FAILED', message: `job process exited with ${code} before reporting a result`, category: 'internal', retryable: true };
        await repo.finish(id, owner, { state: 'failed', error }, at);
      }
      opts.log?.info({ job: id, exit: code, outcome: entry.outcome?.state ?? (entry.cancelling ? 'cancelled' : 'exited') }, 'job ended');
    } catch (e) {
      opts.log?.error({ err: e, job: id }, 'could not record the end of a job');
    } finally {
      running.delete(id);
      await publishState(id).catch(() => undefined);
      if (!stopping) void pump();
    }
  }

  async function pump(): Promise<void> {
    if (!started || stopping) return;
    if (pumping) {
      pumpAgain = true;
      return;
    }
    pumping = true;
    try {
      do {
        pumpAgain = false;
        if (opts.concurrency > 0 && now() - lastReclaim >= pollMs) {
          lastReclaim = now();
          const back = await repo.reclaimExpired(owner, lastReclaim);
          if (back.length) opts.log?.warn({ jobs: back }, 'took over jobs whose runner let its lease lapse; they resume from their checkpoints');
        }
        while (running.size < opts.concurrency && !stopping) {
          const job = await repo.claimNext(kinds, owner, now(), leaseMs);
          if (!job) break;
          await launch(job);
        }
      } while (pumpAgain && !stopping);
    } catch (e) {
      opts.log?.error({ err: e }, 'job queue poll failed');
    } finally {
      pumping = false;
    }
  }

  function stopChild(entry: Running, reason: string): void {
    if (entry.cancelling) return;
    entry.cancelling = reason !== 'shutdown';
    entry.child.send({ t: 'cancel', reason });
    entry.killTimer = setTimeout(() => entry.child.kill('SIGKILL'), graceMs);
    entry.killTimer.unref();
  }

  async function renew(): Promise<void> {
    const ids = [...running.keys()];
    if (ids.length === 0) return;
    const lost = await repo.renewLeases(owner, ids, now() + leaseMs);
    // Our lease lapsed (this process was paused or cut off) and another runner requeued or took
    // the job: its result is no longer ours to record, so the child stops now.
    for (const id of lost) {
      const entry = running.get(id);
      if (entry) {
        opts.log?.warn({ job: id }, 'lost the lease on a running job; stopping it here');
        stopChild(entry, 'lease lost');
      }
    }
    // A cancel requested through another cloud process sharing the database.
    for (const id of ids) {
      const job = await repo.get(id);
      const entry = running.get(id);
      if (job?.cancelRequested && entry) stopChild(entry, 'cancelled');
    }
  }

  return {
    kinds,
    running: () => running.size,
    async start() {
      if (started) return;
      await migrate(opts.db, jobMigrations);
      if (opts.bus && !unlistenBus) unlistenBus = await opts.bus.listen(fromElsewhere);
      const back = await repo.reclaimOrphans(owner, now());
      if (back.length) opts.log?.info({ jobs: back }, 'took back jobs interrupted by a restart; they resume from their checkpoints');
      started = true;
      stopping = false;
      timer = setInterval(() => void pump(), pollMs);
      timer.unref();
      leaseTimer = setInterval(() => void renew().catch((e) => opts.log?.warn({ err: e }, 'lease renewal failed')), Math.max(50, Math.floor(leaseMs / 3)));
      leaseTimer.unref();
      await pump();
    },
    async stop() {
      if (!started) return;
      stopping = true;
      clearInterval(timer);
      clearInterval(leaseTimer);
      const entries = [...running.values()];
      for (const e of entries) stopChild(e, 'shutdown');
      await Promise.all(entries.map((e) => e.child.exited));
      // finalize() runs on exit; wait until every job has been written back.
      while (running.size > 0) await new Promise((r) => setTimeout(r, 10));
      await unlistenBus?.();
      unlistenBus = undefined;
      started = false;
    },
    async submit(kind, params) {
      if (!opts.kinds[kind]) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `unknown job kind '${kind}' (known: ${kinds.join(', ') || 'none'})`);
      // Kinds in the job-kind table are parsed here, whoever calls: nothing malformed is queued.
      const parsed = isJobKind(kind) ? parseJobParams(kind, params) : params;
      const id = newId();
      await repo.insert({ id, kind, params: parsed, now: now() });
      const job = await mustGet(id);
      notify(id, { kind: 'state', job });
      void pump();
      return job;
    },
    async cancel(id) {
      const job = await mustGet(id);
      const r = await repo.requestCancel(id, now());
      if (r === null) throw new EdgekdError('EDGEKD_JOB_STATE', `job ${id} is ${job.state}; only a queued or running job can be cancelled`);
      const entry = running.get(id);
      if (entry) stopChild(entry, 'cancelled');
      await publishState(id);
      return mustGet(id);
    },
    async resume(id) {
      const job = await mustGet(id);
      if (!(await repo.requestResume(id, now()))) {
        throw new EdgekdError('EDGEKD_JOB_STATE', `job ${id} is ${job.state}; only a failed or cancelled job can be resumed`);
      }
      await publishState(id);
      void pump();
      return mustGet(id);
    },
    get: mustGet,
    list: (filter) => repo.list(filter),
    events: (id, afterSeq = 0, o = {}) => repo.events(id, afterSeq, o.limit, o.type),
    countByState: () => repo.countByState(),
    async note(id, event) {
      const entry = running.get(id);
      const noteQueue = entry?.writes ?? notes;
      await noteQueue.run(async () => {
        const seq = entry ? ++entry.seq : (await repo.lastSeq(id)) + 1;
        const at = now();
        await repo.appendEvent(id, seq, at, event);
        const { type, ...data } = event;
        notify(id, { kind: 'event', event: { jobId: id, seq, at, type, data } });
      });
    },
    subscribe(id, listener) {
      let set = listeners.get(id);
      if (!set) listeners.set(id, (set = new Set()));
      set.add(listener);
      return () => {
        set!.delete(listener);
        if (set!.size === 0) listeners.delete(id);
      };
    },
  };
}
