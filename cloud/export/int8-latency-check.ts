import * as ort from 'onnxruntime-node';

/**
 * The export-time check that an int8 package is not slower than its fp32 model on this machine.
 *
 * The per-layer rule in `layer-precision.ts` predicts; this measures. MobileNet-tiny passed the
 * rule (≥ 80 % of its MACs in int8) and still ran 0.87× / 0.68× of fp32's speed at batch 1 / 64,
 * so the final word on shipping int8 is a timing of both candidates in onnxruntime-node.
 * Timing is injected (`Int8Timer`), so the decision is a pure function tested with fake numbers.
 */
export type Int8CheckMode = 'measure' | 'rules' | 'off';
export const INT8_CHECK_MODES: readonly Int8CheckMode[] = ['measure', 'rules', 'off'];

export interface LatencyPair {
  batch: number;
  fp32P50Ms: number;
  int8P50Ms: number;
}

/** Times both models at each batch size and returns one median pair per batch (`inputShape[0]` is the batch axis). */
export type Int8Timer = (models: { fp32: Uint8Array; int8: Uint8Array; inputShape: readonly (number | string)[] }, batches: readonly number[]) => Promise<LatencyPair[]>;

export const INT8_CHECK_BATCHES: readonly number[] = [1, 64];
/**
 * How much slower int8 may be measured and still ship: none by default. Noise then errs towards
 * fp32, which is never slower than fp32. Measured: with 5 % the check let MobileNet-tiny through at
 * 0.97× (batch 1) and bench:export's own rounds then measured that package at 0.92×.
 */
export const INT8_CHECK_TOLERANCE = 0;

export interface Int8Verdict {
  ship: boolean;
  /** fp32 p50 / int8 p50 per batch (> 1: int8 faster). */
  speedups: { batch: number; speedup: number }[];
  reason: string | null;
}

export function decideInt8(pairs: readonly LatencyPair[], tolerance = INT8_CHECK_TOLERANCE): Int8Verdict {
  if (pairs.length === 0) throw new RangeError('decideInt8 needs at least one measured batch size');
  const speedups = pairs.map((p) => ({ batch: p.batch, speedup: p.int8P50Ms > 0 ? p.fp32P50Ms / p.int8P50Ms : Infinity }));
  // int8 ships only when at every batch size int8 p50 ≤ fp32 p50 · (1 + tolerance).
  const slow = pairs.filter((p) => p.int8P50Ms > p.fp32P50Ms * (1 + tolerance));
  if (slow.length === 0) return { ship: true, speedups, reason: null };
  const fmt = (p: LatencyPair): string => `batch ${p.batch}: int8 ${p.int8P50Ms.toFixed(3)} ms vs fp32 ${p.fp32P50Ms.toFixed(3)} ms (${(p.fp32P50Ms / p.int8P50Ms).toFixed(2)}×)`;
  return {
    ship: false,
    speedups,
    reason: `measured int8 slower than fp32 beyond the ${(tolerance * 100).toFixed(0)} % tolerance at ${slow.map(fmt).join('; ')}`,
  };
}

export interface OrtTimerOptions {
  warmup?: number;
  /** Upper bound on timed runs per model and batch. */
  runs?: number;
  /** Stop adding timed runs once this much wall time has passed for the whole check. */
  budgetMs?: number;
  now?: () => number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The real timer: one onnxruntime-node session per model (one intra-op thread, as the benchmark
 * and a busy edge device), a few warm-up runs, then fp32 and int8 runs interleaved so load drift
 * hits both alike (alternating which goes first), each sample the mean of a ~1 ms block of runs,
 * until `runs` pairs or the time budget is spent (at least 3 pairs per batch).
 */
export function ortInt8Timer(o: OrtTimerOptions = {}): Int8Timer {
  const warmup = Math.max(1, o.warmup ?? 3);
  const runs = o.runs ?? 15;
  const budgetMs = o.budgetMs ?? 2000;
  const now = o.now ?? (() => performance.now());
  return async (models, batches) => {
    const opts: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 };
    const sessions = [await ort.InferenceSession.create(models.fp32, opts), await ort.InferenceSession.create(models.int8, opts)] as const;
    const start = now();
    const perBatchBudget = budgetMs / batches.length;
    try {
      const out: LatencyPair[] = [];
      for (const [bi, batch] of batches.entries()) {
        const shape = [batch, ...models.inputShape.slice(1).map(Number)];
        const n = shape.reduce((a, b) => a * b, 1);
        const data = new Float32Array(n);
        // Deterministic, model-independent input in [0, 1): timing does not depend on values here.
        for (let i = 0; i < n; i++) data[i] = ((i * 2654435761) >>> 0) / 4294967296;
        const feeds = sessions.map((s) => ({ [s.inputNames[0]!]: new ort.Tensor('float32', data, shape) }));
        let w0 = now();
        for (let w = 0; w < warmup; w++) {
          // Only the last warm-up round sizes the blocks: the first run pays one-off set-up.
          if (w === warmup - 1) w0 = now();
          for (const [k, s] of sessions.entries()) await s.run(feeds[k]!);
        }
        // A sample is the mean of a block of consecutive runs lasting about 1 ms: a batch-1 run of a
        // small model takes tens of microseconds, where one timer read and one await are noise.
        const perRun = Math.max(1e-3, (now() - w0) / 2);
        const block = Math.min(50, Math.max(1, Math.ceil(1 / perRun)));
        const times: [number[], number[]] = [[], []];
        const batchDeadline = start + perBatchBudget * (bi + 1);
        while (times[0].length < runs && (times[0].length < 3 || now() < batchDeadline)) {
          // Alternate which model goes first, so neither always runs right after the other.
          const order = times[0].length % 2 === 0 ? [0, 1] : [1, 0];
          for (const k of order) {
            const t0 = now();
            for (let i = 0; i < block; i++) await sessions[k]!.run(feeds[k]!);
            times[k as 0 | 1].push((now() - t0) / block);
          }
        }
        out.push({ batch, fp32P50Ms: median(times[0]), int8P50Ms: median(times[1]) });
      }
      return out;
    } finally {
      await Promise.all(sessions.map((s) => s.release()));
    }
  };
}
