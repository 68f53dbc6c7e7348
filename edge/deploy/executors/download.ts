import { downloadOverHttp } from '../../delivery/http-range-download';
import { downloadOverMqtt } from '../../delivery/mqtt-chunk-download';
import type { ExecContext, StepResult } from '../exec-context';
import type { StepOf } from '../steps';

export async function runDownload(step: StepOf<'download'>, ctx: ExecContext): Promise<StepResult> {
  const d = ctx.config.download;
  const delivery = step.offer.delivery;
  const common = { delivery, partPath: ctx.partPath, signal: ctx.signal, onProgress: (b: number) => ctx.progress(b) };
  if (step.transport === 'http') await downloadOverHttp({ ...common, ...(ctx.fetchImpl ? { fetchImpl: ctx.fetchImpl } : {}) });
  else
    await downloadOverMqtt({
          ...common,
          deploymentId: step.offer.deploymentId,
          transport: ctx.chunks,
          windowChunks: d.windowChunks,
          chunkTimeoutMs: d.chunkTimeoutMs,
          maxChunkAttempts: d.maxChunkAttempts,
          fsyncEveryChunks: d.fsyncEveryChunks,
          newRequestId: ctx.newId,
        });
  return { report: { bytesDone: delivery.sizeBytes, bytesTotal: delivery.sizeBytes, transport: step.transport } };
}
