import type * as tf from '@tensorflow/tfjs';
import { EdgekdError } from '../../shared/errors';
import { createRandom } from '../../shared/random/seeded-random';
import { PixelSynthesizer } from '../distill/synthesizer';
import { wrapTeacher } from '../distill/teacher';
import type { CalibrationSamples } from './calibrate';

/**
 * Synthetic calibration samples when no distillation replay buffer exists: pixel-space model
 * inversion of a BatchNorm teacher (BN-statistics matching + class loss + total variation, the
 * distillation engine's PixelSynthesizer), class-balanced targets. No real image is involved.
 */
export function invertTeacher(
  teacher: tf.LayersModel,
  o: { count: number; steps: number; batchSize?: number; seed?: number; range: { low: number; high: number } },
): CalibrationSamples {
  const view = wrapTeacher(teacher);
  const [h, w, c] = view.inputShape;
  const bs = Math.min(o.batchSize ?? 64, o.count);
  const rng = createRandom(o.seed ?? 1);
  const synth = new PixelSynthesizer(
    view,
    [h, w, c],
    o.range,
    { batchSize: bs, steps: o.steps, lr: 0.1, tvWeight: 0.05, bnWeight: 10, ohWeight: 0.5, advWeight: 0, bnMomentum: 0 },
    { pad: 2, flip: false, groups: 1 },
    rng,
  );
  const per = h * w * c;
  const data = new Float32Array(Math.ceil(o.count / bs) * bs * per);
  let made = 0;
  for (let b = 0; made < o.count; b++) {
    const targets = Int32Array.from({ length: bs }, (_, i) => (b * bs + i) % view.numClasses);
    const out = synth.synthesize({ targets, student: null, phi: null });
    data.set(out.batch.images, made * per);
    made += bs;
  }
  synth.dispose();
  if (made < 1) throw new EdgekdError('EDGEKD_CALIBRATION_INVALID', 'inversion produced no samples');
  return { provenance: 'synthetic', data: data.subarray(0, o.count * per), shape: [o.count, h, w, c] };
}
