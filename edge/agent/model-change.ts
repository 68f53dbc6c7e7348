import type { Logger } from '../../shared/log/logger';
import type { ModelManifest } from '../../shared/package';
import type { ModelRef } from '../../shared/protocol';
import type { LoadedModel } from '../inference/model-runtime';

/** Called after the serving model changed (activation, rollback, restart): the drift monitor resets on it. */
export type ModelChangeListener = (manifest: ModelManifest | null, ref: ModelRef | null) => void;

export interface ModelChangeNotifier {
  listen(listener: ModelChangeListener): () => void;
  /** Tells the listeners if the serving model is not the one they were last told about. */
  check(): void;
}

/**
 * Listeners hear each change of the serving build once, whatever the caller: the agent checks
 * after every status report (every transition that can swap the model reports) and at startup.
 * A failing listener is logged and does not stop the others.
 */
export function createModelChangeNotifier(serving: () => LoadedModel | null, log: Logger): ModelChangeNotifier {
  const listeners: ModelChangeListener[] = [];
  let lastServing: string | null = null;
  return {
    listen(l) {
      listeners.push(l);
      return () => {
        const i = listeners.indexOf(l);
        if (i >= 0) listeners.splice(i, 1);
      };
    },
    check() {
      const a = serving();
      const key = a?.ref.sha256 ?? null;
      if (key === lastServing) return;
      lastServing = key;
      for (const l of listeners) {
        try {
          l(a?.manifest ?? null, a?.ref ?? null);
        } catch (e) {
          log.warn({ err: e }, 'model change listener failed');
        }
      }
    },
  };
}
