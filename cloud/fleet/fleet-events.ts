import type { ErrorCode } from '../../shared/errors';
import type { Logger } from '../../shared/log/logger';
import type { Heartbeat } from '../../shared/protocol/messages/heartbeat';
import type { Presence } from '../../shared/protocol/messages/presence';
import type { DriftReportEnvelope } from '../../shared/protocol/messages/drift';
import type { RolloutNotice } from './rollout/rollout-engine';

/** What the fleet controller tells its listeners (the API, the drift loop, benches, tests). */
export type FleetEvent =
  | { type: 'rollout'; rolloutId: string; at: number; notice: RolloutNotice }
  | { type: 'presence'; deviceId: string; at: number; presence: Presence | null }
  | { type: 'heartbeat'; deviceId: string; at: number; heartbeat: Heartbeat }
  | { type: 'drift'; deviceId: string; at: number; report: DriftReportEnvelope }
  | { type: 'message-rejected'; at: number; topic: string; error: { code: ErrorCode; message: string } };

export type FleetEventType = FleetEvent['type'];
export type FleetEventOf<K extends FleetEventType> = Extract<FleetEvent, { type: K }>;

/**
 * Typed subscriptions: `on('drift', e => e.report)` hands the listener the drift variant only;
 * `on('event', …)` receives every event. A listener that throws is logged and does not stop the
 * others, nor the controller that emitted (a Node EventEmitter would throw into the MQTT handler).
 */
export interface FleetEvents {
  on<K extends FleetEventType>(type: K, listener: (e: FleetEventOf<K>) => void): void;
  on(type: 'event', listener: (e: FleetEvent) => void): void;
  off<K extends FleetEventType>(type: K, listener: (e: FleetEventOf<K>) => void): void;
  off(type: 'event', listener: (e: FleetEvent) => void): void;
}

export interface FleetEventHub extends FleetEvents {
  emit(e: FleetEvent): void;
  /** Listeners registered now, all types together (for leak checks). */
  listenerCount(): number;
}

export function createFleetEvents(log: Pick<Logger, 'error'>): FleetEventHub {
  type AnyListener = (e: FleetEvent) => void;
  const listeners = new Map<FleetEventType | 'event', Set<AnyListener>>();
  const call = (set: Set<AnyListener> | undefined, e: FleetEvent): void => {
    // A copy: a listener may remove itself (or another) while the event is delivered.
    for (const l of [...(set ?? [])]) {
      try {
        l(e);
      } catch (err) {
        log.error({ err, event: e.type }, 'a fleet event listener threw');
      }
    }
  };
  return {
    on(type: FleetEventType | 'event', listener: AnyListener): void {
      const set = listeners.get(type) ?? new Set<AnyListener>();
      set.add(listener);
      listeners.set(type, set);
    },
    off(type: FleetEventType | 'event', listener: AnyListener): void {
      listeners.get(type)?.delete(listener);
    },
    emit(e: FleetEvent): void {
      call(listeners.get(e.type), e);
      call(listeners.get('event'), e);
    },
    listenerCount: () => [...listeners.values()].reduce((n, s) => n + s.size, 0),
  } as FleetEventHub;
}
