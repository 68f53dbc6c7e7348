import * as ort from 'onnxruntime-node';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onnx } from '../../shared/package/onnx/onnx-proto';

/**
 * What onnxruntime's CPU provider turns a model into: the session writes its optimized graph
 * (`optimizedModelFilePath`), which is decoded and counted by op type. This is how the exporter
 * checks that QDQ convolutions really fused into QLinearConv instead of running in float.
 */
export interface OptimizedGraphSummary {
  opCounts: Record<string, number>;
  /** Conv nodes left in float (not fused into a quantized kernel). */
  floatConvs: number;
  quantizedConvs: number;
}

export async function optimizedGraphSummary(model: Uint8Array, options: { threads?: number } = {}): Promise<OptimizedGraphSummary> {
  const dir = await mkdtemp(join(tmpdir(), 'edgekd-ort-opt-'));
  const path = join(dir, 'optimized.onnx');
  try {
    const s = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', optimizedModelFilePath: path, intraOpNumThreads: options.threads ?? 1, logSeverityLevel: 3 });
    await s.release();
    const m = onnx.ModelProto.decode(await readFile(path));
    const opCounts: Record<string, number> = {};
    for (const n of m.graph?.node ?? []) {
      const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}:${n.opType}` : String(n.opType);
      opCounts[key] = (opCounts[key] ?? 0) + 1;
    }
    const count = (pred: (k: string) => boolean) => Object.entries(opCounts).filter(([k]) => pred(k)).reduce((a, [, v]) => a + v, 0);
    return {
      opCounts,
      floatConvs: count((k) => k === 'Conv' || k.endsWith('.nchwc:Conv') || k.endsWith(':FusedConv') || k.endsWith(':NchwcConv')),
      quantizedConvs: count((k) => k.endsWith('QLinearConv')),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
