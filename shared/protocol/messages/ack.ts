import { Type, type Static } from 'typebox';
import { Id } from './common';

/**
 * Cloud → device: these reports are stored (applied or recognised as duplicates) and the device
 * may delete them from its outbox. Until a key is acked the device redelivers that report after
 * every reconnect and on its resend interval, so an ack lost in transit costs one duplicate, which
 * the cloud drops by key. The cloud acks a key again whenever it sees it again.
 */
export const Ack = Type.Object({
  schema: Type.Literal('edgekd.ack/1'),
  keys: Type.Array(Id, { minItems: 1, maxItems: 1000 }),
});
export type Ack = Static<typeof Ack>;
