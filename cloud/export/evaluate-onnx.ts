import * as ort from 'onnxruntime-node';

/**
 * Top-1 accuracy of an ONNX classifier (NHWC input) run by onnxruntime-node. Evaluation may use
 * real test images; it never feeds calibration.
 */
export async function onnxAccuracy(
  model: Uint8Array,
  images: Float32Array,
  labels: Int32Array,
  shape: readonly [number, number, number],
  options: { inputName?: string; outputName?: string; batchSize?: number; threads?: number } = {},
): Promise<number> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: options.threads ?? 1, logSeverityLevel: 3 });
  const inputName = options.inputName ?? session.inputNames[0]!;
  const outputName = options.outputName ?? session.outputNames[0]!;
  const per = shape[0] * shape[1] * shape[2];
  const bs = options.batchSize ?? 256;
  let correct = 0;
  try {
    for (let i = 0; i < labels.length; i += bs) {
      const m = Math.min(bs, labels.length - i);
      const x = new ort.Tensor('float32', images.subarray(i * per, (i + m) * per), [m, ...shape]);
      const y = (await session.run({ [inputName]: x }, [outputName]))[outputName]!;
      const k = y.dims[1]!;
      const d = y.data as Float32Array;
      for (let j = 0; j < m; j++) {
        let best = 0;
        for (let c = 1; c < k; c++) if (d[j * k + c]! > d[j * k + best]!) best = c;
        if (best === labels[i + j]) correct++;
      }
    }
  } finally {
    await session.release();
  }
  return correct / labels.length;
}
