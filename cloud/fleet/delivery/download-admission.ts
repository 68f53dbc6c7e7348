/**
 * Admission control for MQTT chunk delivery: at most `maxConcurrent` deployments download at once,
 * and together they may hold at most `maxBytes` of package (the bytes that can be in flight: in
 * the broker's queues and the devices' sockets); one deployment is always let in, whatever its
 * size. The chunk requests of the others wait here, in arrival order, and are handed back the
 * moment a slot frees. Before, a device over the limit was answered EDGEKD_RATE_LIMITED with a
 * random 250–750 ms retry: a 1,000-device wave turned into tens of thousands of refusals and
 * re-requests, and freed slots sat empty until some device happened to retry. Waiting requests
 * cost nothing on the wire; a device that times out re-asks, and its newer request replaces the
 * parked one.
 */
export class DownloadAdmission<R> {
  /** deploymentId → last chunk served (ms) and package size: the deployments holding a slot. */
  private readonly holders = new Map<string, { at: number; bytes: number }>();
  /** deploymentId → package size and chunk index → the latest request; Map order is arrival order. */
  private readonly waiting = new Map<string, { bytes: number; parked: Map<number, R> }>();
  private bytesHeld = 0;

  constructor(
    private readonly maxConcurrent: number,
    private readonly maxBytes: number = Number.POSITIVE_INFINITY,
  ) {}

  get downloading(): number {
    return this.holders.size;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /**
   * True when the deployment holds a slot (taking a free one); otherwise the request is parked.
   * `bytes`: the size of the file the deployment downloads.
   */
  admit(deploymentId: string, index: number, request: R, now: number, bytes = 0): boolean {
    if (this.holders.has(deploymentId)) return true;
    if (this.waiting.size === 0 && this.fits(bytes)) {
      this.take(deploymentId, now, bytes);
      return true;
    }
    const w = this.waiting.get(deploymentId) ?? { bytes, parked: new Map<number, R>() };
    w.parked.set(index, request);
    this.waiting.set(deploymentId, w);
    return false;
  }

  /** A chunk was served to this holder (it is active, not idle). */
  touch(deploymentId: string, now: number): void {
    const h = this.holders.get(deploymentId);
    if (h) h.at = now;
  }

  /**
   * The deployment stopped downloading (finished, failed, gone): its slot and any parked requests
   * go. Returns the requests of the deployments admitted into freed slots, to be served now.
   */
  release(deploymentId: string, now: number): R[] {
    this.waiting.delete(deploymentId);
    if (!this.drop(deploymentId)) return [];
    return this.fill(now);
  }

  /**
   * Frees slots of holders idle longer than `idleMs` (a device that vanished or is slow to report
   * its next state); returns what `release` returns.
   */
  expireIdle(now: number, idleMs: number): R[] {
    let freed = false;
    for (const [id, h] of this.holders) if (now - h.at > idleMs) freed = this.drop(id) || freed;
    return freed ? this.fill(now) : [];
  }

  private fits(bytes: number): boolean {
    return this.holders.size === 0 || (this.holders.size < this.maxConcurrent && this.bytesHeld + bytes <= this.maxBytes);
  }

  private take(id: string, now: number, bytes: number): void {
    this.holders.set(id, { at: now, bytes });
    this.bytesHeld += bytes;
  }

  private drop(id: string): boolean {
    const h = this.holders.get(id);
    if (!h) return false;
    this.holders.delete(id);
    this.bytesHeld -= h.bytes;
    return true;
  }

  private fill(now: number): R[] {
    const out: R[] = [];
    for (const [id, w] of this.waiting) {
      if (!this.fits(w.bytes)) break;
      this.waiting.delete(id);
      out.push(...w.parked.values());
      this.take(id, now, w.bytes);
    }
    return out;
  }
}
