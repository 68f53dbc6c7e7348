import { describe, expect, it } from 'vitest';
import { createRandom } from '../../shared/random/seeded-random';
import { degradeBatch, type Degradation } from './degradation';
import { fitDegradation, signature } from './fit-degradation';

const G = { height: 16, width: 16, channels: 1, range: [-1, 1] as const };
const SIZE = 256;

/** Blobby test images: a dark background with a bright shape, like clothes on black. */
function images(count: number, seed: number): Float32Array {
  const r = createRandom(seed);
  const out = new Float32Array(count * SIZE).fill(-1);
  for (let i = 0; i < count; i++) {
    const cy = 4 + r.int(8);
    const cx = 4 + r.int(8);
    const rad = 3 + r.int(4);
    const level = 0.2 + 0.8 * r.next();
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 16; x++) {
        const d = Math.hypot(y - cy, x - cx);
        if (d < rad) out[i * SIZE + y * 16 + x] = Math.min(1, level - 0.3 * Math.sin(x + y) * r.next());
      }
  }
  return out;
}

describe('degradation fit from input statistics', () => {
  const synthetic = images(200, 1);
  const fieldClean = images(400, 2);
  const baseline = signature(fieldClean, 400, G, { kind: 'none', amount: 0 }, 5);

  it.each<Degradation>([
    { kind: 'contrast', amount: 0.45 },
    { kind: 'brightness', amount: 0.2 },
    { kind: 'blur', amount: 1 },
    { kind: 'noise', amount: 0.12 },
  ])('recovers $kind $amount applied to other images than the ones it is fitted on', (truth) => {
    const field = signature(degradeBatch(fieldClean, 400, truth, G, createRandom(9)), 400, G, { kind: 'none', amount: 0 }, 5);
    const fit = fitDegradation({ samples: synthetic, count: 200, geometry: G, baseline, field });
    expect(fit.degradation.kind).toBe(truth.kind);
    // Within a grid step or two of the truth (the fit images are not the field's).
    const tolerance = { contrast: 0.1, brightness: 0.05, blur: 0.5, noise: 0.04 }[truth.kind as 'contrast'];
    expect(Math.abs(fit.degradation.amount - truth.amount)).toBeLessThanOrEqual(tolerance);
    expect(fit.noneDistance).toBeGreaterThan(fit.distance * 3);
  });

  it('finds nothing to fit on a clean field: "none" is the best and the change is small', () => {
    const field = signature(images(400, 3), 400, G, { kind: 'none', amount: 0 }, 5);
    const fit = fitDegradation({ samples: synthetic, count: 200, geometry: G, baseline, field });
    expect(fit.noneDistance).toBeLessThan(2.5);
  });

  it('is deterministic, and rejects non-finite statistics or too few samples with typed errors', () => {
    const field = signature(degradeBatch(fieldClean, 400, { kind: 'contrast', amount: 0.6 }, G, createRandom(9)), 400, G, { kind: 'none', amount: 0 }, 5);
    const a = fitDegradation({ samples: synthetic, count: 200, geometry: G, baseline, field, seed: 4 });
    const b = fitDegradation({ samples: synthetic, count: 200, geometry: G, baseline, field, seed: 4 });
    expect(b).toEqual(a);
    expect(() => fitDegradation({ samples: synthetic, count: 200, geometry: G, baseline, field: { ...field, std: Number.NaN } })).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
    expect(() => fitDegradation({ samples: synthetic, count: 201, geometry: G, baseline, field })).toThrow(expect.objectContaining({ code: 'EDGEKD_INVALID_ARGUMENT' }));
  });
});
