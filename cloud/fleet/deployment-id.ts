/**
 * One device's part of one rollout is a deployment; its id names both so any report, chunk request
 * or download can be traced to its rollout without a lookup: `<rolloutId>:<deviceId>`. Rollout ids
 * contain no ':' (see newRolloutId); device ids cannot (protocol DeviceId pattern).
 */
export function deploymentIdOf(rolloutId: string, deviceId: string): string {
  return `${rolloutId}:${deviceId}`;
}

export function parseDeploymentId(id: string): { rolloutId: string; deviceId: string } | null {
  const i = id.indexOf(':');
  if (i <= 0 || i === id.length - 1 || id.indexOf(':', i + 1) >= 0) return null;
  return { rolloutId: id.slice(0, i), deviceId: id.slice(i + 1) };
}

export function newRolloutId(now: number, random: () => number = Math.random): string {
  return `ro-${now.toString(36)}-${Math.floor(random() * 36 ** 6).toString(36).padStart(6, '0')}`;
}
