import { EdgekdError } from '../../shared/errors';
import type { Logger } from '../../shared/log/logger';
import type { DeploymentState, DriftReportEnvelope, Heartbeat, ModelRef, Presence, TopicKind } from '../../shared/protocol';
import type { ReportFields } from '../deploy/reconciler';
import type { ServingWindow } from '../inference/model-runtime';
import type { Outbox } from '../storage/outbox';
import { driftEnvelope, heartbeatMessage, presenceMessage, statusEnvelope, type ReporterIdentity } from './report-envelopes';

/** The part of the MQTT link the reporter publishes through. */
export interface ReportLink {
  readonly connected: boolean;
  publish(kind: 'heartbeat', message: Heartbeat): Promise<void>;
  publishRaw(kind: TopicKind, payload: string): Promise<void>;
}

/** Live values the heartbeat and presence documents are read from when they are built. */
export interface ReporterSources {
  servingWindow(): ServingWindow;
  activeModel(): { ref: ModelRef; executionProvider: string } | null;
  deployment(): { deploymentId: string; state: DeploymentState } | null;
  bootSeq(): number;
  runtimeInfo(): NonNullable<Presence['runtime']>;
  trustedKeyIds(): string[];
  resources(): Heartbeat['resources'];
}

export interface ReporterDeps {
  readonly identity: ReporterIdentity;
  readonly nowMs: () => number;
  readonly log: Logger;
  readonly heartbeatIntervalMs: number;
  readonly outboxResendIntervalMs: number;
  readonly sources: ReporterSources;
}

export interface Reporter {
  /** Reports go to `outbox` (persisted first) and leave over `link` once it is connected. */
  open(outbox: Outbox, link: ReportLink): void;
  /** Appends a status report to the outbox and starts its delivery. */
  status(fields: ReportFields): void;
  /** Appends a drift report to the outbox and starts its delivery; throws before `open`. */
  drift(stats: Record<string, unknown>, model: ModelRef, window: DriftReportEnvelope['window']): void;
  /** The cloud acked these idempotency keys: their rows leave the outbox. */
  ack(keys: readonly string[]): void;
  /**
   * Publishes outbox rows: `all` (after a connect) resends every unacked row once; otherwise only
   * rows never sent or last sent more than the resend interval ago. Rows stay until acked.
   */
  flush(all: boolean): Promise<void>;
  /** Waits (at most `maxMs`, while connected) until every report sent is acked. */
  drain(maxMs: number): Promise<void>;
  /** Download progress of a deployment, shown in heartbeats while that deployment is current. */
  progress(deploymentId: string, bytesDone: number, bytesTotal: number): void;
  heartbeat(): Heartbeat;
  /** Publishes a heartbeat if connected (QoS 0, never queued: a newer one supersedes it). */
  sendHeartbeat(): void;
  presence(state: 'online' | 'offline', sessionSeq: number): Presence;
  pending(): number;
  /** Stops using the outbox (the caller closes it). */
  close(): void;
}

const BATCH = 100;

export function createReporter(deps: ReporterDeps): Reporter {
  const { identity, nowMs, log, sources } = deps;
  const startedAtMs = nowMs();
  let outbox: Outbox | null = null;
  let link: ReportLink | null = null;
  let flushing = false;
  let flushAgain = false;
  let progress: { deploymentId: string; bytesDone: number; bytesTotal: number } | null = null;

  const flush = async (all: boolean): Promise<void> => {
    if (flushing) {
      flushAgain = true;
      return;
    }
    if (!link?.connected || !outbox) return;
    const l = link;
    flushing = true;
    try {
      // Only rows already fsynced leave the device: the cloud never sees a report a power cut could undo.
      const maxSeq = await outbox.durable();
      const sentBeforeMs = all ? Number.MAX_SAFE_INTEGER : nowMs() - deps.outboxResendIntervalMs;
      let afterSeq = 0;
      while (outbox && l.connected) {
        const batch = outbox.pending(BATCH, { sentBeforeMs, afterSeq, maxSeq });
        if (batch.length === 0 || !l.connected) break;
        await Promise.all(batch.map((e) => l.publishRaw(e.kind, e.payload)));
        outbox?.markSent(batch.map((e) => e.seq), nowMs());
        afterSeq = batch[batch.length - 1]!.seq;
      }
    } catch (e) {
      log.debug({ err: e }, 'outbox delivery interrupted; retried on reconnect');
    } finally {
      flushing = false;
    }
    if (flushAgain) {
      flushAgain = false;
      await flush(false);
    }
  };

  const heartbeat = (): Heartbeat => {
    const a = sources.activeModel();
    const cur = sources.deployment();
    let deployment: Heartbeat['deployment'] | null = null;
    if (cur) {
      deployment = { deploymentId: cur.deploymentId, state: cur.state };
      if (progress?.deploymentId === cur.deploymentId) Object.assign(deployment, { bytesDone: progress.bytesDone, bytesTotal: progress.bytesTotal });
    }
    return heartbeatMessage(identity, {
      nowMs: nowMs(), startedAtMs, intervalMs: deps.heartbeatIntervalMs,
      window: sources.servingWindow(),
      activeModel: a?.ref ?? null, executionProvider: a?.executionProvider ?? null,
      deployment, resources: sources.resources(), outboxPending: outbox?.count() ?? 0,
    });
  };

  return {
    open(o, l) {
      outbox = o;
      link = l;
    },
    status(fields) {
      if (!outbox) return;
      outbox.append('status', (seq, key) => statusEnvelope(identity, { seq, key }, nowMs(), fields));
      void flush(false);
    },
    drift(stats, model, window) {
      if (!outbox) throw new EdgekdError('EDGEKD_ROLLOUT_STATE', 'the agent is not started');
      outbox.append('drift', (seq, key) => driftEnvelope(identity, { seq, key }, nowMs(), { stats, model, window }));
      void flush(false);
    },
    ack(keys) {
      outbox?.ack(keys);
    },
    flush,
    async drain(maxMs) {
      // Wall clock on purpose: the bound is real waiting time whatever clock the agent was given.
      const until = Date.now() + maxMs;
      while (link?.connected && outbox && outbox.count() > 0 && Date.now() < until) {
        await flush(false);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    progress(deploymentId, bytesDone, bytesTotal) {
      progress = { deploymentId, bytesDone, bytesTotal };
    },
    heartbeat,
    sendHeartbeat() {
      if (!link?.connected) return;
      link.publish('heartbeat', heartbeat()).catch((e) => log.debug({ err: e }, 'heartbeat not sent'));
    },
    presence(state, sessionSeq) {
      return presenceMessage(identity, {
        state, sessionSeq, bootSeq: sources.bootSeq(), nowMs: nowMs(),
        runtime: sources.runtimeInfo(), activeModel: sources.activeModel()?.ref ?? null, trustedKeyIds: sources.trustedKeyIds(),
      });
    },
    pending: () => outbox?.count() ?? 0,
    close() {
      outbox = null;
    },
  };
}
