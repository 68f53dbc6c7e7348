import { describe, expect, it } from 'vitest';
import { createAckBatcher, MAX_ACK_KEYS } from './ack-batcher';

function batcher() {
  const sent: Array<{ deviceId: string; keys: string[] }> = [];
  let fire: (() => void) | null = null;
  const b = createAckBatcher({
    send: (deviceId, keys) => sent.push({ deviceId, keys }),
    setTimer: (f) => {
      fire = f;
      return { cancel: () => (fire = null) };
    },
  });
  return { b, sent, tick: () => fire?.() };
}

describe('ack batcher', () => {
  it('sends the keys a device gathered in one message per device when the timer fires', () => {
    const { b, sent, tick } = batcher();
    b.queue('d1', 'k1');
    b.queue('d2', 'k2');
    b.queue('d1', 'k3');
    expect(sent).toEqual([]);
    tick();
    expect(sent).toEqual([
      { deviceId: 'd1', keys: ['k1', 'k3'] },
      { deviceId: 'd2', keys: ['k2'] },
    ]);
  });

  it('sends a key repeated within a batch once', () => {
    const { b, sent } = batcher();
    b.queue('d1', 'k1');
    b.queue('d1', 'k1');
    b.flush();
    expect(sent).toEqual([{ deviceId: 'd1', keys: ['k1'] }]);
  });

  it('flushes at once when a device reaches the per-message key limit', () => {
    const { b, sent } = batcher();
    for (let i = 0; i < MAX_ACK_KEYS; i++) b.queue('d1', `k${i}`);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.keys).toHaveLength(MAX_ACK_KEYS);
  });
});
