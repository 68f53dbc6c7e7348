import { EdgekdError } from '../../../shared/errors';
import { decode, type CodecOptions, type Decoded } from '../../../shared/protocol/codec';
import type { TopicKind } from '../../../shared/protocol/topics';

/**
 * Decodes a device message and keeps it only when its kind is one this consumer accepts. Every
 * failure (undecodable, invalid, a kind not accepted here) goes to `reject` as a typed error and
 * yields null: nothing throws out of a message handler.
 */
export function decodeAccepted(
  topic: string,
  payload: Uint8Array,
  o: { codec: CodecOptions; accepted: readonly TopicKind[]; consumer: string; reject: (topic: string, e: unknown) => void },
): Decoded | null {
  let msg: Decoded;
  try {
    msg = decode(topic, payload, o.codec);
  } catch (e) {
    o.reject(topic, e);
    return null;
  }
  if (!o.accepted.includes(msg.kind)) {
    o.reject(topic, new EdgekdError('EDGEKD_MESSAGE_INVALID', `${o.consumer} does not accept ${msg.kind} messages`));
    return null;
  }
  return msg;
}
