import { PNG } from 'pngjs';

/**
 * Renders synthetic samples as small PNG data URLs for the console's gallery. Inputs are NHWC
 * floats in the model's normalised range [low, high]; 1 or 3 channels.
 */
export function samplesToPngDataUrls(
  images: Float32Array,
  shape: readonly [number, number, number],
  range: { low: number; high: number },
): string[] {
  const [h, w, c] = shape;
  const dim = h * w * c;
  const n = Math.floor(images.length / dim);
  const out: string[] = [];
  const scale = 255 / (range.high - range.low);
  for (let k = 0; k < n; k++) {
    const png = new PNG({ width: w, height: h });
    for (let i = 0; i < h * w; i++) {
      for (let ch = 0; ch < 3; ch++) {
        const v = images[k * dim + i * c + (c === 1 ? 0 : ch)]!;
        png.data[i * 4 + ch] = Math.max(0, Math.min(255, Math.round((v - range.low) * scale)));
      }
      png.data[i * 4 + 3] = 255;
    }
    out.push(`data:image/png;base64,${PNG.sync.write(png).toString('base64')}`);
  }
  return out;
}

/** Up to `perClass` buffer slots of each class, so the gallery shows every class present. */
export function pickGalleryIndices(labels: ArrayLike<number>, numClasses: number, perClass: number): number[] {
  const picked: number[] = [];
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (counts[l]! < perClass) {
      counts[l]!++;
      picked.push(i);
    }
  }
  return picked.sort((a, b) => labels[a]! - labels[b]! || a - b);
}
