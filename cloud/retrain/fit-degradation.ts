import { EdgekdError } from '../../shared/errors';
import { createRandom } from '../../shared/random/seeded-random';
import { inputStatistics } from '../../shared/drift/input-statistics';
import type { ImageGeometry } from '../../shared/drift/shifts';
import { degradeImage, type Degradation, type DegradationKind } from './degradation';
import type { InputStatisticMeans } from '../../shared/drift/pool-input-statistics';


/**
 * The amounts tried per kind: a coarse grid over and beyond the benchmark's severities 1–5
 * (shared/drift/shifts.ts), since the synthetic samples respond to an operator somewhat differently
 * from camera images (blur lowers their sharpness less, for one).
 */
export const DEGRADATION_GRID: Record<Exclude<DegradationKind, 'none'>, readonly number[]> = {
  contrast: [0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9],
  brightness: [-0.4, -0.3, -0.2, -0.15, -0.1, -0.05, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4],
  blur: [0.4, 0.6, 0.8, 1, 1.25, 1.5, 1.75, 2, 2.5, 3],
  noise: [0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.18, 0.22, 0.26, 0.3],
  occlusion: [0.15, 0.22, 0.3, 0.4, 0.5],
};

/**
 * How a change of the statistics is compared, each term divided by a scale so one unit is a change
 * the family distinguishes: the mean moves additively (in range units), spread and sharpness
 * multiplicatively (log ratio), saturation relative to its own baseline (the synthetic samples
 * saturate less than camera images do, so only the relative change is comparable). `flat` is not
 * a term: the synthetic samples answer brightness and noise with other changes of it than camera
 * images do; it has its own stage for occlusion (fit-occlusion-from-flat.ts).
 */
const SCALES = { mean: 0.02, std: 0.04, gradient: 0.04, saturation: 0.5 } as const;

export interface DegradationFit {
  degradation: Degradation;
  /** Distance of the best candidate (0 = the field's change reproduced exactly). */
  distance: number;
  /** Distance of doing nothing: how large the field's change is. */
  noneDistance: number;
  /** The field's change, as compared (mean difference, log ratios, relative saturation change). */
  fieldChange: number[];
  /** The best amount of every kind, best first. */
  ranking: Array<{ kind: DegradationKind; amount: number; distance: number }>;
  /**
   * Set only on a fit of the second stage (`fitOcclusionFromFlat`), whose distances are in units
   * of the rise of `flat`, not of the four statistics above.
   */
  stage?: 'flat-rise';
}

/**
 * Fits the degradation whose effect on the synthetic samples best reproduces the change of the
 * field's input statistics from its baseline to the drifted window: for every kind and amount of
 * the grid, the statistics of D(samples) against those of the samples, compared with field
 * window against field baseline. Statistics only: no field input is needed, and the samples are
 * the deployed student's synthetic buffer. Deterministic for a seed.
 */
export function fitDegradation(o: { samples: Float32Array; count: number; geometry: ImageGeometry; baseline: InputStatisticMeans; field: InputStatisticMeans; seed?: number; grid?: Partial<typeof DEGRADATION_GRID> }): DegradationFit {
  const size = o.geometry.height * o.geometry.width * o.geometry.channels;
  if (o.count < 1 || o.samples.length < o.count * size) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `fitDegradation: ${o.samples.length} values for ${o.count} samples of ${size}`);
  for (const [k, v] of Object.entries({ ...o.baseline, ...prefix(o.field) })) {
    if (!Number.isFinite(v)) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `fitDegradation: statistic ${k} is not finite`);
  }
  const fieldChange = change(o.baseline, o.field);
  const clean = signature(o.samples, o.count, o.geometry, { kind: 'none', amount: 0 }, o.seed ?? 1);
  const grid = { ...DEGRADATION_GRID, ...o.grid };
  const noneDistance = distance(fieldChange, [0, 0, 0, 0]);
  const ranking: DegradationFit['ranking'] = [{ kind: 'none', amount: 0, distance: noneDistance }];
  for (const kind of Object.keys(grid) as Array<keyof typeof grid>) {
    let best = { kind: kind as DegradationKind, amount: 0, distance: Infinity };
    for (const amount of grid[kind] ?? []) {
      const d = distance(fieldChange, change(clean, signature(o.samples, o.count, o.geometry, { kind, amount }, o.seed ?? 1)));
      if (d < best.distance) best = { kind, amount, distance: d };
    }
    if (Number.isFinite(best.distance)) ranking.push(best);
  }
  ranking.sort((a, b) => a.distance - b.distance);
  const top = ranking[0]!;
  return { degradation: { kind: top.kind, amount: top.amount }, distance: top.distance, noneDistance, fieldChange, ranking };
}

/** Mean input statistics of D(samples), `flat` included (the primary fit does not compare it). */
export function signature(samples: Float32Array, count: number, g: ImageGeometry, d: Degradation, seed: number): InputStatisticMeans & { flat: number } {
  const size = g.height * g.width * g.channels;
  const random = createRandom(seed);
  const acc = { mean: 0, std: 0, gradient: 0, saturation: 0, flat: 0 };
  for (let i = 0; i < count; i++) {
    const x = samples.subarray(i * size, (i + 1) * size);
    const s = inputStatistics(d.kind === 'none' ? x : degradeImage(x, d, g, random), g);
    acc.mean += s.mean / count;
    acc.std += s.std / count;
    acc.gradient += s.gradient / count;
    acc.saturation += s.saturation / count;
    acc.flat += s.flat / count;
  }
  return acc;
}

function change(a: InputStatisticMeans, b: InputStatisticMeans): number[] {
  const eps = 1e-6;
  return [
    (b.mean - a.mean) / SCALES.mean,
    Math.log((b.std + eps) / (a.std + eps)) / SCALES.std,
    Math.log((b.gradient + eps) / (a.gradient + eps)) / SCALES.gradient,
    (b.saturation - a.saturation) / Math.max(a.saturation, 0.02) / SCALES.saturation,
  ];
}

function distance(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s);
}

function prefix(m: InputStatisticMeans): Record<string, number> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [`field.${k}`, v]));
}
