import { EdgekdError } from '../../shared/errors';
import type { Random } from '../../shared/random/seeded-random';
import type { ImageGeometry } from '../../shared/drift/shifts';
import { checkDegradation, degradeImage, type Degradation } from './degradation';

export interface FieldImitationOptions {
  /** The fitted degradation(s); each degraded sample draws one uniformly. */
  degradations: Degradation[];
  /** Fraction of each KD batch that is degraded, in [0, 1]; the rest stays clean (keeps clean accuracy). */
  fraction: number;
  /**
   * What the teacher labels: `clean`, the undegraded synthetic sample (the student learns to answer
   * on D(x) what the teacher answers on x: it can become more robust than the teacher), or
   * `degraded`, the same D(x) the student sees (it imitates the teacher's own behaviour under D).
   */
  teacherOn: 'clean' | 'degraded';
  geometry: ImageGeometry;
}

/**
 * The KD-batch rewrite of the field-conditioned retrain (`WarmStart.kdInputs` of cloud/distill):
 * a seeded `fraction` of the synthetic samples of every batch is degraded by the fitted
 * degradation, and the teacher's soft labels come from the clean or the degraded sample. Synthetic
 * samples only; the schedule and the number of student steps are those of the run.
 */
export function fieldImitationInputs(o: FieldImitationOptions): (pixels: Float32Array, shape: readonly [number, number, number, number], random: Random) => { student: Float32Array; teacher: Float32Array } {
  if (!(o.fraction >= 0 && o.fraction <= 1)) throw new EdgekdError('EDGEKD_CONFIG_INVALID', `field imitation fraction ${o.fraction} outside [0, 1]`);
  if (o.degradations.length === 0) throw new EdgekdError('EDGEKD_CONFIG_INVALID', 'field imitation needs at least one degradation');
  o.degradations.forEach(checkDegradation);
  const g = o.geometry;
  const size = g.height * g.width * g.channels;
  return (pixels, shape, random) => {
    const [n, h, w, c] = shape;
    if (h !== g.height || w !== g.width || c !== g.channels || pixels.length !== n * size) {
      throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `field imitation for ${g.height}x${g.width}x${g.channels} got a batch of [${shape.join(', ')}]`);
    }
    const student = pixels.slice();
    for (let i = 0; i < n; i++) {
      if (random.next() >= o.fraction) continue;
      const d = o.degradations[o.degradations.length === 1 ? 0 : random.int(o.degradations.length)]!;
      student.set(degradeImage(pixels.subarray(i * size, (i + 1) * size), d, g, random), i * size);
    }
    return { student, teacher: o.teacherOn === 'clean' ? pixels : student };
  };
}
