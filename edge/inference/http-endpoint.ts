import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Type } from 'typebox';
import { createParser, parseJson } from '../../shared/contracts/parse';
import { EdgekdError, toEdgekdError } from '../../shared/errors';
import { TensorInput, type InferenceResult } from '../../shared/protocol';

/**
 * The local inference endpoint (node:http, loopback by default):
 *   POST /v1/infer   body {input: {dtype, shape, data | dataBase64}, topK?, includeProbabilities?}
 *                    200 {ok: true, result} | 400/413 {ok: false, error} | 503 when no model is active
 *   GET  /v1/health  200 {ok: true, ...status} (the agent's status object)
 * Errors are the typed EdgekdError JSON; a bad request never affects the process.
 */
export const HttpInferBody = Type.Object({
  input: TensorInput,
  topK: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  includeProbabilities: Type.Optional(Type.Boolean()),
});
const parseBody = createParser(HttpInferBody, 'inference request body');

export interface HttpEndpointDeps {
  infer(input: TensorInput, options: { topK?: number; includeProbabilities?: boolean }): Promise<InferenceResult>;
  health(): unknown;
  maxBodyBytes: number;
}

function statusFor(e: EdgekdError): number {
  if (e.code === 'EDGEKD_PAYLOAD_TOO_LARGE') return 413;
  if (e.code === 'EDGEKD_NO_ACTIVE_MODEL') return 503;
  return e.category === 'input' ? 400 : 500;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new EdgekdError('EDGEKD_PAYLOAD_TOO_LARGE', `request body of ${declared} bytes exceeds ${limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new EdgekdError('EDGEKD_PAYLOAD_TOO_LARGE', `request body exceeds ${limit} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

export function createHttpEndpoint(deps: HttpEndpointDeps): { server: Server; listen(host: string, port: number): Promise<AddressInfo>; close(): Promise<void> } {
  const server = createServer((req, res) => {
    void (async () => {
      try {
        if (req.method === 'GET' && req.url === '/v1/health') return send(res, 200, { ok: true, ...(deps.health() as object) });
        if (req.method !== 'POST' || req.url !== '/v1/infer') {
          return send(res, 404, { ok: false, error: new EdgekdError('EDGEKD_NOT_FOUND', `no route ${req.method} ${req.url}`).toJSON() });
        }
        const body = parseBody.parse(parseJson(await readBody(req, deps.maxBodyBytes), 'inference request body'));
        const opts: { topK?: number; includeProbabilities?: boolean } = {};
        if (body.topK !== undefined) opts.topK = body.topK;
        if (body.includeProbabilities !== undefined) opts.includeProbabilities = body.includeProbabilities;
        send(res, 200, { ok: true, result: await deps.infer(body.input, opts) });
      } catch (e) {
        const err = toEdgekdError(e);
        if (!res.headersSent) send(res, statusFor(err), { ok: false, error: err.toJSON() });
        if (err.code === 'EDGEKD_PAYLOAD_TOO_LARGE') req.destroy();
      }
    })();
  });
  return {
    server,
    listen: (host, port) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve(server.address() as AddressInfo));
      }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
