import type { Logger } from '../../shared/log/logger';
import type { BrokerAccess } from '../fleet/registry/broker-access';
import type { EmbeddedBroker } from './embedded-broker';

/**
 * The embedded broker authenticates every CONNECT against the registry, so after a change there is
 * nothing to rewrite: a revoked or rotated device only has to lose the session it opened with the
 * old credentials (its reconnect is then refused, or needs the new password).
 */
export function createEmbeddedAccess(broker: Pick<EmbeddedBroker, 'disconnectDevice'>, logger?: Logger): BrokerAccess {
  return {
    async deviceChanged(change) {
      if (change.kind === 'added') return;
      const ended = broker.disconnectDevice(change.deviceId);
      logger?.info({ deviceId: change.deviceId, kind: change.kind, sessionsEnded: ended }, 'device sessions ended');
    },
  };
}
