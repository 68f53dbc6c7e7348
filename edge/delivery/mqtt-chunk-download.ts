import { createHash } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ChunkRequest, ChunkResponse, Delivery } from '../../shared/protocol';
import { EdgekdError, ErrorCodes, type ErrorCode } from '../../shared/errors';
import { fullJitterDelayMs } from '../../shared/retry/backoff';
import { chunkLength, resumePoint } from './resume-point';

/** The MQTT side the downloader needs: send a request, receive responses for this device. */
export interface ChunkTransport {
  request(req: ChunkRequest): void;
  /** Subscribes to chunk responses; returns the unsubscribe function. */
  onResponse(handler: (r: ChunkResponse) => void): () => void;
}

export interface ChunkDownloadOptions {
  readonly deploymentId: string;
  readonly delivery: Delivery;
  readonly partPath: string;
  readonly transport: ChunkTransport;
  readonly windowChunks: number;
  readonly chunkTimeoutMs: number;
  readonly maxChunkAttempts: number;
  readonly fsyncEveryChunks: number;
  readonly newRequestId: () => string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (bytesDone: number) => void;
  /** Longest extra wait between re-requests of one chunk (default 8 × chunkTimeoutMs). */
  readonly retryCapMs?: number;
  /** Injected for tests. */
  readonly random?: () => number;
  readonly now?: () => number;
}

interface InFlight {
  sentAt: number;
  badAttempts: number;
  notBefore: number;
  /** Requests sent for this chunk so far. */
  sends: number;
  /** How long after `sentAt` it is asked for again. */
  waitMs: number;
}

/**
 * Pulls a file chunk by chunk over MQTT into `partPath`, resuming after the last good chunk on
 * disk. At most `windowChunks` requests are in flight; a request unanswered for `chunkTimeoutMs`
 * is sent again (late answers to the old request are still used); a chunk that fails its hash is
 * requested again up to `maxChunkAttempts` times, then the download fails with
 * EDGEKD_CHUNK_INVALID. There is no overall deadline here: the step timeout aborts via `signal`.
 *
 * Re-requests back off: the first one follows `chunkTimeoutMs` after the request, each later one
 * waits `chunkTimeoutMs` plus a full-jitter exponential extra (window chunkTimeoutMs · 2^n, capped
 * by `retryCapMs`), so devices whose answers were lost together (a broker restart) do not ask
 * again in lockstep.
 * Returns the byte offset it resumed from.
 */
export async function downloadOverMqtt(o: ChunkDownloadOptions): Promise<{ resumedFromBytes: number }> {
  const { delivery } = o;
  const total = delivery.chunkSha256.length;
  await mkdir(dirname(o.partPath), { recursive: true });
  let nextToWrite = await resumePoint(o.partPath, delivery);
  const resumedFromBytes = nextToWrite * delivery.chunkBytes;
  if (nextToWrite >= total) return { resumedFromBytes: Math.min(resumedFromBytes, delivery.sizeBytes) };

  const clock = o.now ?? Date.now;
  const random = o.random ?? Math.random;
  const retryPolicy = { baseMs: o.chunkTimeoutMs, capMs: o.retryCapMs ?? 8 * o.chunkTimeoutMs };
  const fresh = (): InFlight => ({ sentAt: 0, badAttempts: 0, notBefore: 0, sends: 0, waitMs: o.chunkTimeoutMs });
  const fh = await open(o.partPath, 'a');
  const buffered = new Map<number, Uint8Array>();
  const inflight = new Map<number, InFlight>();
  let nextToRequest = nextToWrite;
  let sinceSync = 0;
  let failure: EdgekdError | null = null;
  let wake: (() => void) | null = null;
  const events: ChunkResponse[] = [];
  const notify = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };

  const unsubscribe = o.transport.onResponse((r) => {
    if (r.header.deploymentId !== o.deploymentId || r.header.sha256 !== delivery.sha256) return;
    events.push(r);
    notify();
  });
  const onAbort = (): void => notify();
  o.signal?.addEventListener('abort', onAbort);

  const send = (index: number, state: InFlight): void => {
    state.sentAt = clock();
    state.sends++;
    state.waitMs = o.chunkTimeoutMs + (state.sends === 1 ? 0 : fullJitterDelayMs(state.sends - 2, retryPolicy, random));
    o.transport.request({ schema: 'edgekd.chunk-request/1', requestId: o.newRequestId(), deploymentId: o.deploymentId, sha256: delivery.sha256, index });
  };

  const handle = (r: ChunkResponse): void => {
    const { index } = r.header;
    const state = inflight.get(index);
    if (index < nextToWrite || buffered.has(index) || index >= total) return; // duplicate or late
    if (r.header.error) {
      const code = (r.header.error.code in ErrorCodes ? r.header.error.code : 'EDGEKD_BROKER_UNAVAILABLE') as ErrorCode;
      if (r.header.retryAfterMs !== undefined && state) {
        state.notBefore = clock() + r.header.retryAfterMs;
        state.sentAt = Number.POSITIVE_INFINITY; // re-sent when notBefore passes
        return;
      }
      failure = new EdgekdError(code, `the cloud refused chunk ${index}: ${r.header.error.message}`);
      return;
    }
    const okLength = r.data.length === chunkLength(delivery, index);
    const okHash = okLength && createHash('sha256').update(r.data).digest('hex') === delivery.chunkSha256[index];
    if (!okHash) {
      const s = state ?? fresh();
      s.badAttempts++;
      if (s.badAttempts >= o.maxChunkAttempts) {
        failure = new EdgekdError('EDGEKD_CHUNK_INVALID', `chunk ${index} failed its sha256 ${s.badAttempts} times`, { details: { index } });
        return;
      }
      inflight.set(index, s);
      send(index, s);
      return;
    }
    inflight.delete(index);
    buffered.set(index, r.data);
  };

  try {
    while (nextToWrite < total) {
      if (o.signal?.aborted) throw o.signal.reason ?? new EdgekdError('EDGEKD_RUN_CANCELLED', 'download aborted');
      if (failure) throw failure;
      const now = clock();
      for (const [index, s] of inflight) {
        if (now >= s.notBefore && now - s.sentAt >= s.waitMs) send(index, s);
        else if (s.sentAt === Number.POSITIVE_INFINITY && now >= s.notBefore) send(index, s);
      }
      while (nextToRequest < total && inflight.size + buffered.size < o.windowChunks) {
        const s = fresh();
        inflight.set(nextToRequest, s);
        send(nextToRequest, s);
        nextToRequest++;
      }
      if (events.length === 0) {
        // Sleep until an answer arrives, or until the earliest moment something is due: a request
        // timing out, or a rate-limited one whose retryAfterMs ends (polling at a fixed quarter of
        // the timeout made a deferred device wait up to 1.25 s for a 300 ms retry).
        let dueAt = now + Math.max(10, Math.floor(o.chunkTimeoutMs / 4));
        for (const s of inflight.values()) dueAt = Math.min(dueAt, s.sentAt === Number.POSITIVE_INFINITY ? s.notBefore : Math.max(s.notBefore, s.sentAt + s.waitMs));
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(notify, Math.max(1, dueAt - now));
        });
        clearTimeout(timer);
      }
      for (const r of events.splice(0)) handle(r);
      let wrote = false;
      while (buffered.has(nextToWrite)) {
        await fh.write(buffered.get(nextToWrite)!);
        buffered.delete(nextToWrite);
        nextToWrite++;
        wrote = true;
        if (++sinceSync >= o.fsyncEveryChunks) {
          await fh.sync();
          sinceSync = 0;
        }
      }
      if (wrote) o.onProgress?.(Math.min(nextToWrite * delivery.chunkBytes, delivery.sizeBytes));
    }
    await fh.sync();
    return { resumedFromBytes };
  } finally {
    unsubscribe();
    o.signal?.removeEventListener('abort', onAbort);
    await fh.close();
  }
}
