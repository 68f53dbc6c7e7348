import { describe, expect, it } from 'vitest';
import { createFleetEvents, type FleetEvent } from './fleet-events';

const heartbeat = (deviceId: string): FleetEvent => ({ type: 'heartbeat', deviceId, at: 1, heartbeat: {} as never });
const rejected: FleetEvent = { type: 'message-rejected', at: 2, topic: 't', error: { code: 'EDGEKD_MESSAGE_INVALID', message: 'bad' } };

describe('fleet events', () => {
  it('hands each listener only the events of its type, and every event to "event" listeners', () => {
    const hub = createFleetEvents({ error: () => undefined });
    const beats: string[] = [];
    const all: string[] = [];
    hub.on('heartbeat', (e) => beats.push(e.deviceId));
    hub.on('event', (e) => all.push(e.type));
    hub.emit(heartbeat('d1'));
    hub.emit(rejected);
    expect(beats).toEqual(['d1']);
    expect(all).toEqual(['heartbeat', 'message-rejected']);
  });

  it('stops delivering to a listener once it is removed, also from inside a delivery', () => {
    const hub = createFleetEvents({ error: () => undefined });
    const got: string[] = [];
    const once = (e: { deviceId: string }): void => {
      got.push(e.deviceId);
      hub.off('heartbeat', once);
    };
    hub.on('heartbeat', once);
    hub.emit(heartbeat('a'));
    hub.emit(heartbeat('b'));
    expect(got).toEqual(['a']);
    expect(hub.listenerCount()).toBe(0);
  });

  it('logs a listener that throws and still delivers to the others', () => {
    const errors: unknown[] = [];
    const hub = createFleetEvents({ error: (o: unknown) => void errors.push(o) });
    const got: string[] = [];
    hub.on('heartbeat', () => {
      throw new Error('listener bug');
    });
    hub.on('heartbeat', (e) => got.push(e.deviceId));
    expect(() => hub.emit(heartbeat('d2'))).not.toThrow();
    expect(got).toEqual(['d2']);
    expect(errors).toHaveLength(1);
  });
});
