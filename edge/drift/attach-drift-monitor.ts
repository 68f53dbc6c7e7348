import type { Agent } from '../agent/create-agent';
import { isoTime } from '../../shared/protocol';
import { createDriftMonitor, type DriftMonitor, type DriftMonitorOptions } from './drift-monitor';

export type AttachOptions = Omit<DriftMonitorOptions, 'publish' | 'clock'> & {
  clock?: () => number;
  /** How often the report timer checks whether a period is due (default 10 s). */
  tickEveryMs?: number;
};

/**
 * Wires a drift monitor into an agent through its public hooks only: the inference observer list,
 * the model-change listener and `reportDrift` (protocol envelope + persisted outbox). Returns the
 * monitor and a `detach` that flushes the last period and removes every hook.
 */
export function attachDriftMonitor(agent: Agent, o: AttachOptions = {}): { monitor: DriftMonitor; detach: () => void } {
  const clock = o.clock ?? Date.now;
  const monitor = createDriftMonitor({
    ...o,
    clock,
    publish: (report, model) => {
      agent.reportDrift(report as unknown as Record<string, unknown>, model, {
        start: isoTime(report.periodStart),
        end: isoTime(report.periodEnd),
        inferences: report.sampleCount,
      });
    },
  });
  const observer = monitor.observe;
  agent.inferenceObservers.push(observer);
  const unlisten = agent.onModelChange((manifest, ref) => {
    if (manifest && ref) monitor.onModelActivated(manifest, ref);
  });
  const active = agent.status().activeModel;
  const loaded = active ? agent.runtime?.active() : null;
  if (loaded) monitor.onModelActivated(loaded.manifest, loaded.ref);
  const timer = setInterval(() => monitor.tick(), o.tickEveryMs ?? 10_000);
  timer.unref();
  return {
    monitor,
    detach() {
      clearInterval(timer);
      try {
        monitor.flush();
      } catch {
        // The agent may already be stopped; the period is lost, nothing else.
      }
      unlisten();
      const i = agent.inferenceObservers.indexOf(observer);
      if (i >= 0) agent.inferenceObservers.splice(i, 1);
    },
  };
}
