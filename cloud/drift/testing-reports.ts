import type { DriftReportEnvelope } from '../../shared/protocol';
import type { DriftReport } from '../../shared/drift/reference';

/** A drift report envelope for tests: `p` is the last window's p-value, `alarm` the device verdict; `inputMeans.flat` only when given (older agents do not report it). */
export function fakeDriftEnvelope(o: { deviceId: string; key: string; p: number; alarm: boolean; at: number; features?: DriftReport['featureStatistics']; sketches?: DriftReport['layerSketches']; inputMeans?: Record<'mean' | 'std' | 'gradient' | 'saturation', number> & { flat?: number }; modelVersion?: number }): DriftReportEnvelope {
  const stats: DriftReport = {
    version: 1,
    modelId: 'fm-student',
    modelVersion: String(o.modelVersion ?? 3),
    periodStart: o.at - 60_000,
    periodEnd: o.at,
    sampleCount: 1000,
    windowSize: 512,
    windowsEvaluated: 4,
    referenceSource: 'field-baseline',
    classCounts: [100, 100, 100, 100, 100, 100, 100, 100, 100, 100],
    detectors: [
      { detector: 'max-softmax-ks', statistic: 0.2, pValue: o.p, z: o.alarm ? 8 : 0.1, breach: o.alarm },
      { detector: 'entropy-ks', statistic: 0.2, pValue: Math.min(1, o.p * 3), breach: false },
    ],
    alarm: { active: o.alarm, detectors: o.alarm ? ['max-softmax-ks'] : [], breachedWindows: o.alarm ? 4 : 0 },
    ...(o.features ? { featureStatistics: o.features } : {}),
    ...(o.sketches ? { layerSketches: o.sketches } : {}),
    ...(o.inputMeans ? { inputStatistics: Object.entries(o.inputMeans).filter(([, mean]) => mean !== undefined).map(([name, mean]) => ({ name: name as 'mean', counts: [1000], mean })) } : {}),
  };
  return {
    schema: 'edgekd.drift/1',
    deviceId: o.deviceId,
    bootId: 'boot-1',
    seq: 1,
    idempotencyKey: o.key,
    ts: new Date(o.at).toISOString(),
    model: { name: 'fm-student', version: o.modelVersion ?? 3, sha256: 'c'.repeat(64) },
    window: { start: new Date(o.at - 60_000).toISOString(), end: new Date(o.at).toISOString(), inferences: 1000 },
    stats: stats as unknown as Record<string, unknown>,
  };
}
