import { createHash } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Delivery } from '../../shared/protocol';
import { EdgekdError } from '../../shared/errors';
import { chunkLength, resumePoint } from './resume-point';

/**
 * The HTTP alternative: `GET url` with a bearer token and `Range: bytes=<have>-`, resuming after
 * the last good chunk. Bytes are hashed per chunk of the offer's delivery plan as they arrive, so
 * a corrupted transfer is cut back to the last good chunk (EDGEKD_CHUNK_INVALID, retryable).
 */
export async function downloadOverHttp(o: {
  delivery: Delivery;
  partPath: string;
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
  onProgress?: (bytesDone: number) => void;
}): Promise<{ resumedFromBytes: number }> {
  const { delivery } = o;
  const http = delivery.http;
  if (!http) throw new EdgekdError('EDGEKD_MESSAGE_INVALID', 'the offer has no http delivery');
  await mkdir(dirname(o.partPath), { recursive: true });
  let good = await resumePoint(o.partPath, delivery);
  const resumedFromBytes = good * delivery.chunkBytes;
  const total = delivery.chunkSha256.length;
  if (good >= total) return { resumedFromBytes: delivery.sizeBytes };
  const start = good * delivery.chunkBytes;
  const init: RequestInit = { headers: { authorization: `Bearer ${http.token}`, range: `bytes=${start}-` } };
  if (o.signal) init.signal = o.signal;
  let res: Response;
  try {
    res = await (o.fetchImpl ?? fetch)(http.url, init);
  } catch (e) {
    throw new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', `model download from ${new URL(http.url).host} failed: ${(e as Error).message}`, { cause: e });
  }
  if (res.status === 401 || res.status === 403) throw new EdgekdError('EDGEKD_UNAUTHORIZED', `model download refused (HTTP ${res.status}); the token may have expired`);
  if (res.status !== 206 && !(res.status === 200 && start === 0)) {
    throw new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', `model download answered HTTP ${res.status} to a Range request`);
  }
  if (!res.body) throw new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', 'model download has no body');
  const fh = await open(o.partPath, 'a');
  let pending = Buffer.alloc(0);
  try {
    for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
      pending = pending.length === 0 ? Buffer.from(part) : Buffer.concat([pending, part]);
      while (good < total && pending.length >= chunkLength(delivery, good)) {
        const len = chunkLength(delivery, good);
        const chunk = pending.subarray(0, len);
        if (createHash('sha256').update(chunk).digest('hex') !== delivery.chunkSha256[good]) {
          throw new EdgekdError('EDGEKD_CHUNK_INVALID', `HTTP download: chunk ${good} failed its sha256`, { details: { index: good } });
        }
        await fh.write(chunk);
        pending = pending.subarray(len);
        good++;
        o.onProgress?.(Math.min(good * delivery.chunkBytes, delivery.sizeBytes));
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  if (good < total) throw new EdgekdError('EDGEKD_BROKER_UNAVAILABLE', `HTTP download ended after ${good} of ${total} chunks; it resumes from there`);
  return { resumedFromBytes };
}
