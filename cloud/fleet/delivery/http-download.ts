import { Readable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import { checkDownloadToken } from './download-token';
import { parseRange } from './parse-range';
import type { TokenBucket } from './token-bucket';

export interface DownloadTarget {
  sizeBytes: number;
  /**
   * Bytes `start` ≤ i < `end` of the file: a slice of bytes in memory (the leader's loaded
   * package) or a stream (an artifact read by range on any process).
   */
  read(start: number, end: number): Promise<Uint8Array | AsyncIterable<Uint8Array>>;
  sha256: string;
  /** The rollout's bandwidth cap, shared with MQTT chunk delivery. */
  bucket: TokenBucket | null;
}

export interface DownloadPluginOptions {
  secret: Buffer;
  now: () => number;
  /** The file for a deployment the device may fetch now, or null (unknown, finished, not this device's). */
  resolve: (deploymentId: string) => Promise<DownloadTarget | null>;
  /** Bytes per write when throttled. */
  sliceBytes?: number;
}

/** Route of the HTTP(S) alternative to MQTT chunks. Mounted by the API app or by `listenHttp`. */
export const DOWNLOAD_ROUTE = '/v1/fleet/downloads/:deploymentId';

export function downloadPath(deploymentId: string): string {
  return `/v1/fleet/downloads/${encodeURIComponent(deploymentId)}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * `GET /v1/fleet/downloads/:deploymentId` with `Authorization: Bearer <token>` from the offer.
 * Single byte ranges (`Range: bytes=N-`) resume a download (206 + Content-Range); 416 when the
 * range is past the end. The body is paced by the rollout's token bucket. Errors are
 * `{code, message}` JSON with 401 (token), 404 (no such deployment for this token), 416.
 */
export const fleetDownloadPlugin: FastifyPluginAsync<DownloadPluginOptions> = async (app, opts) => {
  const slice = opts.sliceBytes ?? 16 * 1024;
  // No API token: the download token from the offer authenticates the device, checked below.
  app.get<{ Params: { deploymentId: string } }>(DOWNLOAD_ROUTE, { config: { access: 'public' } }, async (req, reply) => {
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    const check = checkDownloadToken(opts.secret, token, opts.now());
    if (!check.ok) return reply.code(401).send({ code: 'EDGEKD_UNAUTHORIZED', message: `download token rejected: ${check.reason}` });
    if (check.deploymentId !== req.params.deploymentId) {
      return reply.code(401).send({ code: 'EDGEKD_UNAUTHORIZED', message: 'the token is for another deployment' });
    }
    const target = await opts.resolve(check.deploymentId);
    if (!target) return reply.code(404).send({ code: 'EDGEKD_NOT_FOUND', message: `deployment ${check.deploymentId} has nothing to download now` });
    const size = target.sizeBytes;
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      return reply.code(416).header('content-range', `bytes */${size}`).send({ code: 'EDGEKD_INVALID_ARGUMENT', message: `range ${req.headers.range} is outside the ${size}-byte file` });
    }
    const start = range?.start ?? 0;
    const end = range?.end ?? size - 1;
    reply
      .code(range ? 206 : 200)
      .header('accept-ranges', 'bytes')
      .header('content-type', 'application/octet-stream')
      .header('content-length', String(end - start + 1))
      .header('etag', `"${target.sha256}"`)
      .header('x-edgekd-sha256', target.sha256);
    if (range) reply.header('content-range', `bytes ${start}-${end}/${size}`);
    const body = await target.read(start, end + 1);
    if (body instanceof Uint8Array && !target.bucket) return reply.send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    const bucket = target.bucket;
    const now = opts.now;
    const stream = Readable.from(
      (async function* () {
        for await (const chunk of body instanceof Uint8Array ? [body] : body) {
          for (let off = 0; off < chunk.length; off += slice) {
            const part = chunk.subarray(off, Math.min(chunk.length, off + slice));
            if (bucket) for (let wait = bucket.take(part.length, now()); wait > 0; wait = bucket.take(part.length, now())) await sleep(wait);
            yield Buffer.from(part.buffer, part.byteOffset, part.byteLength);
          }
        }
      })(),
    );
    return reply.send(stream);
  });
};
