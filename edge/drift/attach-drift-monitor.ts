import type { ModelManifest } from '../../shared/package';
import { isoTime, type DriftReportEnvelope, type ModelRef } from '../../shared/protocol';
import type { ModelChangeListener } from '../agent/model-change';
import type { InferenceObserver } from '../inference/model-runtime';
import { createDriftMonitor, type DriftMonitor, type DriftMonitorOptions } from './drift-monitor';

export type AttachOptions = Omit<DriftMonitorOptions, 'publish' | 'clock'> & {
  clock?: () => number;
  /**
   * How often a timer checks whether a period is due (default 10 s); 0 = no timer, the period is
   * then checked on each inference only (a simulated clock that real timers must not race).
   */
  tickEveryMs?: number;
};

/** What a drift monitor is attached to: an agent, or an in-process device of a simulation. */
export interface DriftHooks {
  /** Every inference of the serving runtime reaches these observers. */
  readonly inferenceObservers: InferenceObserver[];
  onModelChange(listener: ModelChangeListener): () => void;
  /** Wraps a report body in the protocol envelope and queues it (the agent: its persisted outbox). */
  reportDrift(stats: Record<string, unknown>, model: ModelRef, window: DriftReportEnvelope['window']): void;
  /** The model serving now, if any: the monitor starts on it. */
  serving(): { manifest: ModelManifest; ref: ModelRef } | null;
}

/**
 * Wires a drift monitor to its hooks: the inference observer list, the model-change listener and
 * `reportDrift`. Returns the monitor and a `detach` that flushes the last period and removes
 * every hook. `createAgent` attaches one from its configuration; the drift bench attaches the same
 * to its in-process devices.
 */
export function attachDriftMonitor(hooks: DriftHooks, o: AttachOptions = {}): { monitor: DriftMonitor; detach: () => void } {
  const clock = o.clock ?? Date.now;
  const monitor = createDriftMonitor({
    ...o,
    clock,
    publish: (report, model) => {
      hooks.reportDrift(report as unknown as Record<string, unknown>, model, {
        start: isoTime(report.periodStart),
        end: isoTime(report.periodEnd),
        inferences: report.sampleCount,
      });
    },
  });
  const observer = monitor.observe;
  hooks.inferenceObservers.push(observer);
  const unlisten = hooks.onModelChange((manifest, ref) => {
    if (manifest && ref) monitor.onModelActivated(manifest, ref);
  });
  const loaded = hooks.serving();
  if (loaded) monitor.onModelActivated(loaded.manifest, loaded.ref);
  const tickEveryMs = o.tickEveryMs ?? 10_000;
  const timer = tickEveryMs > 0 ? setInterval(() => monitor.tick(), tickEveryMs) : null;
  timer?.unref();
  return {
    monitor,
    detach() {
      if (timer) clearInterval(timer);
      try {
        monitor.flush();
      } catch {
        // The agent may already be stopped; the period is lost, nothing else.
      }
      unlisten();
      const i = hooks.inferenceObservers.indexOf(observer);
      if (i >= 0) hooks.inferenceObservers.splice(i, 1);
    },
  };
}
