import { Readable } from 'node:stream';

/** The fields of a retained PUBLISH that aedes reads back when it serves a SUBSCRIBE. */
export interface RetainedPacket {
  readonly topic: string;
  readonly payload: Buffer | string;
  readonly [k: string]: unknown;
}

/** The two retained-message methods of an aedes persistence that this index takes over. */
export interface RetainedPersistence {
  storeRetained(packet: RetainedPacket, ...rest: unknown[]): Promise<void>;
  createRetainedStreamCombi(patterns: string[]): Readable;
  createRetainedStream(pattern: string): Readable;
}

/** MQTT topic-filter matching (`+` one level, `#` the rest; wildcards never match a leading `$`). */
export function filterMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

const hasWildcard = (filter: string): boolean => filter.includes('+') || filter.includes('#');

/**
 * Retained messages by topic, for aedes' in-memory persistence. aedes-persistence answers every
 * SUBSCRIBE by testing each of its filters against *every* retained message, so when a fleet
 * reconnects after a restart of the embedded broker (N devices, each subscribing to 5 exact
 * topics, while ~2N retained presences and offers accumulate) the broker does O(N²) matches on
 * the one event loop it shares with the cloud. A device's filters carry no wildcard (its own
 * topics only), so they are answered here by one map lookup; a wildcard filter (the cloud's) still
 * scans, as before. The inner persistence keeps storing too, so nothing else it does changes.
 */
export function indexRetained(persistence: RetainedPersistence): void {
  const byTopic = new Map<string, RetainedPacket>();
  const store = persistence.storeRetained.bind(persistence);
  const matching = function* (patterns: readonly string[]): Generator<RetainedPacket> {
    for (const p of patterns) {
      if (!hasWildcard(p)) {
        const hit = byTopic.get(p);
        if (hit) yield hit;
        continue;
      }
      for (const [topic, packet] of byTopic) if (filterMatches(p, topic)) yield packet;
    }
  };
  persistence.storeRetained = (packet, ...rest) => {
    // Same rule as aedes-persistence: an empty retained payload deletes the topic's message.
    if (packet.payload.length === 0) byTopic.delete(packet.topic);
    else byTopic.set(packet.topic, { ...packet });
    return store(packet, ...rest);
  };
  persistence.createRetainedStreamCombi = (patterns) => Readable.from(matching(patterns));
  persistence.createRetainedStream = (pattern) => Readable.from(matching([pattern]));
}
