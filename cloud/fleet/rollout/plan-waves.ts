import type { WavePlanSpec } from './rollout-spec';

/**
 * Splits the target devices into a canary wave and then waves that grow geometrically
 * (first, first·g, first·g², …), the exponential rate of AWS IoT Jobs expressed as wave sizes.
 * The order of `deviceIds` is kept, so the caller decides who is canary (sorted ids by default:
 * deterministic and reproducible across a restart). The last wave takes whatever remains.
 */
export function planWaves(deviceIds: readonly string[], plan: WavePlanSpec): string[][] {
  const waves: string[][] = [];
  let i = 0;
  const canary = Math.min(plan.canaryDevices, deviceIds.length);
  if (canary > 0) {
    waves.push(deviceIds.slice(0, canary));
    i = canary;
  }
  let size = plan.firstWaveDevices;
  while (i < deviceIds.length) {
    const n = Math.max(1, Math.round(size));
    waves.push(deviceIds.slice(i, i + n));
    i += n;
    size *= plan.growthFactor;
  }
  return waves;
}
