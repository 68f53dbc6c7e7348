/** Keeps a broker's view of device credentials in step with the registry. */
export interface BrokerAccess {
  /** After a device was added, rotated or revoked: make the broker agree (end sessions that use revoked or old credentials; rewrite or push the broker's auth data). */
  deviceChanged(change: { kind: 'added' | 'rotated' | 'revoked'; deviceId: string }): Promise<void>;
}
