/**
 * Measuring a detector on simulated streams: false alarms per 100,000 clean inferences and
 * detection delay after a shift starts. Pure; the benchmark and tests inject the detector factory
 * and the samplers.
 */
export interface StreamDetector<T> {
  /** Feeds one item; true when an alarm is raised at this item (rising edge only). */
  push(item: T): boolean;
}

export function countFalseAlarms<T>(detector: StreamDetector<T>, drawClean: () => T, length: number): { alarms: number; per100k: number; length: number } {
  let alarms = 0;
  for (let i = 0; i < length; i++) if (detector.push(drawClean())) alarms++;
  return { alarms, per100k: (alarms * 100_000) / length, length };
}

export interface DelayTrial {
  /** Samples after the shift started until the alarm; null when not detected within maxDelay. */
  delay: number | null;
  /** The detector alarmed before the shift (during the clean warm-up). */
  earlyAlarm: boolean;
}

export function measureDelay<T>(
  makeDetector: () => StreamDetector<T>,
  drawClean: () => T,
  drawShifted: () => T,
  o: { warmup: number; maxDelay: number; trials: number },
): DelayTrial[] {
  const out: DelayTrial[] = [];
  for (let t = 0; t < o.trials; t++) {
    const d = makeDetector();
    let early = false;
    for (let i = 0; i < o.warmup; i++) if (d.push(drawClean())) early = true;
    let delay: number | null = null;
    for (let i = 1; i <= o.maxDelay; i++) {
      if (d.push(drawShifted())) {
        delay = i;
        break;
      }
    }
    out.push({ delay, earlyAlarm: early });
  }
  return out;
}

/** Median of detected delays, and the detection rate. Misses count as +∞ for the median. */
export function summarizeDelays(trials: readonly DelayTrial[]): { medianDelay: number | null; detectionRate: number } {
  if (trials.length === 0) return { medianDelay: null, detectionRate: 0 };
  const d = trials.map((t) => t.delay ?? Infinity).sort((a, b) => a - b);
  const mid = d[Math.floor((d.length - 1) / 2)]!;
  return { medianDelay: Number.isFinite(mid) ? mid : null, detectionRate: trials.filter((t) => t.delay !== null).length / trials.length };
}
