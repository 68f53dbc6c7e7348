import type { GateVerdict } from './rollout/gates';
import { rolloutCounts, type DeviceRolloutState, type RolloutState, type RolloutStatus, type WavePhase } from './rollout/rollout-engine';

export interface WaveSummary {
  index: number;
  phase: WavePhase;
  devices: number;
  committed: number;
  failed: number;
  startedAt?: number;
  bakeUntil?: number;
  verdict?: GateVerdict;
}

/** What the API and console show for a rollout; the full per-device state is getRolloutState. */
export interface RolloutSummary {
  id: string;
  packageId: string;
  status: RolloutStatus;
  reason?: string;
  createdAt: number;
  updatedAt: number;
  currentWave: number;
  devices: number;
  counts: Record<DeviceRolloutState, number>;
  waves: WaveSummary[];
}

const FAILED: ReadonlySet<DeviceRolloutState> = new Set(['failed', 'rejected', 'timed_out']);

export function summarizeRollout(s: RolloutState): RolloutSummary {
  const out: RolloutSummary = {
    id: s.id,
    packageId: s.spec.packageId,
    status: s.status,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
    currentWave: s.currentWave,
    devices: Object.keys(s.devices).length,
    counts: rolloutCounts(s),
    waves: s.waves.map((w) => {
      const ws: WaveSummary = {
        index: w.index,
        phase: w.phase,
        devices: w.deviceIds.length,
        committed: w.deviceIds.filter((id) => s.devices[id]?.state === 'committed').length,
        failed: w.deviceIds.filter((id) => FAILED.has(s.devices[id]!.state)).length,
      };
      if (w.startedAt !== undefined) ws.startedAt = w.startedAt;
      if (w.bakeUntil !== undefined) ws.bakeUntil = w.bakeUntil;
      if (w.verdict) ws.verdict = w.verdict;
      return ws;
    }),
  };
  if (s.reason !== undefined) out.reason = s.reason;
  return out;
}
