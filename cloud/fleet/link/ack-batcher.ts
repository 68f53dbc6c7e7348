export interface AckBatcherDeps {
  /** Sends one ack message with these keys to the device. */
  readonly send: (deviceId: string, keys: string[]) => void;
  /** Injected timer (default setTimeout/clearTimeout). */
  readonly setTimer?: (f: () => void, ms: number) => { cancel(): void };
  /** How long keys gather before they go out (default 5 ms). */
  readonly delayMs?: number;
}

export interface AckBatcher {
  /** Queues the ack of one report (its idempotency key), after the report is logged. */
  queue(deviceId: string, key: string): void;
  /** Sends everything queued now. */
  flush(): void;
}

/** An ack message carries at most this many keys (the protocol's limit). */
export const MAX_ACK_KEYS = 1000;

/**
 * Acks go out per device in small batches: the keys a device's reports got within a few
 * milliseconds share one message (a wave produces thousands of reports, one ack each would double
 * the cloud's publishes). A device with MAX_ACK_KEYS keys waiting flushes at once. Keys repeated in
 * a batch (a redelivered report) are sent once.
 */
export function createAckBatcher(deps: AckBatcherDeps): AckBatcher {
  const setTimer = deps.setTimer ?? ((f, ms) => {
    const t = setTimeout(f, ms);
    return { cancel: () => clearTimeout(t) };
  });
  const pending = new Map<string, string[]>();
  let timer: { cancel(): void } | null = null;
  const flush = (): void => {
    timer?.cancel();
    timer = null;
    for (const [deviceId, keys] of pending) deps.send(deviceId, [...new Set(keys)].slice(0, MAX_ACK_KEYS));
    pending.clear();
  };
  return {
    queue(deviceId, key) {
      const list = pending.get(deviceId) ?? [];
      list.push(key);
      pending.set(deviceId, list);
      if (list.length >= MAX_ACK_KEYS) flush();
      else timer ??= setTimer(flush, deps.delayMs ?? 5);
    },
    flush,
  };
}
