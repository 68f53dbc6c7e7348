import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEdgekdError } from '../../shared/errors';
import type { Delivery } from '../../shared/protocol';
import { downloadOverHttp } from './http-range-download';

const file = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 31) % 251));
const chunkBytes = 1024;
const chunkSha256: string[] = [];
for (let i = 0; i < file.length; i += chunkBytes) chunkSha256.push(createHash('sha256').update(file.subarray(i, i + chunkBytes)).digest('hex'));

describe('HTTP Range download', () => {
  let server: Server;
  let url = '';
  const ranges: string[] = [];
  let corrupt = false;
  const dir = mkdtempSync(join(tmpdir(), 'edgekd-http-'));
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.headers.authorization !== 'Bearer t0k') {
        res.writeHead(401).end();
        return;
      }
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      ranges.push(req.headers.range ?? '');
      const body = Buffer.from(file.subarray(start));
      if (corrupt) body[body.length - 1] ^= 0xff;
      res.writeHead(m ? 206 : 200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/model`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  const delivery = (token = 't0k'): Delivery => ({ sizeBytes: file.length, sha256: createHash('sha256').update(file).digest('hex'), chunkBytes, chunkSha256, http: { url, token } });

  it('resumes from the last good chunk of a partial file with a Range request', async () => {
    const part = join(dir, 'a.part');
    // 3 good chunks and a torn fourth: the torn bytes are cut and re-fetched.
    writeFileSync(part, Buffer.concat([file.subarray(0, 3 * chunkBytes), Buffer.from([1, 2, 3])]));
    const r = await downloadOverHttp({ delivery: delivery(), partPath: part });
    expect(r.resumedFromBytes).toBe(3 * chunkBytes);
    expect(ranges.at(-1)).toBe(`bytes=${3 * chunkBytes}-`);
    expect(readFileSync(part).equals(file)).toBe(true);
  });

  it('cuts a corrupted transfer back to the last good chunk with EDGEKD_CHUNK_INVALID', async () => {
    const part = join(dir, 'b.part');
    corrupt = true;
    try {
      await downloadOverHttp({ delivery: delivery(), partPath: part });
      throw new Error('accepted');
    } catch (e) {
      expect(isEdgekdError(e, 'EDGEKD_CHUNK_INVALID')).toBe(true);
    } finally {
      corrupt = false;
    }
    expect(readFileSync(part).length).toBe(9 * chunkBytes);
    await downloadOverHttp({ delivery: delivery(), partPath: part });
    expect(readFileSync(part).equals(file)).toBe(true);
  });

  it('reports a refused token as EDGEKD_UNAUTHORIZED', async () => {
    await expect(downloadOverHttp({ delivery: delivery('bad'), partPath: join(dir, 'c.part') })).rejects.toMatchObject({ code: 'EDGEKD_UNAUTHORIZED' });
  });
});
