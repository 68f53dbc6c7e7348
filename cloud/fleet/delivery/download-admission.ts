/**
 * Admission control for MQTT chunk delivery: at most `maxConcurrent` deployments download at once;
 * the chunk requests of the others wait here, in arrival order, and are handed back the moment a
 * slot frees. Before, a device over the limit was answered EDGEKD_RATE_LIMITED with a random
 * 250–750 ms retry: a 1,000-device wave turned into tens of thousands of refusals and re-requests,
 * and freed slots sat empty until some device happened to retry. Waiting requests cost nothing on
 * the wire; a device that times out re-asks, and its newer request replaces the parked one.
 */
export class DownloadAdmission<R> {
  /** deploymentId → last chunk served (ms): the deployments holding a slot. */
  private readonly holders = new Map<string, number>();
  /** deploymentId → chunk index → the latest request; Map order is arrival order. */
  private readonly waiting = new Map<string, Map<number, R>>();

  constructor(private readonly maxConcurrent: number) {}

  get downloading(): number {
    return this.holders.size;
  }

  get queued(): number {
    return this.waiting.size;
  }

  /** True when the deployment holds a slot (taking a free one); otherwise the request is parked. */
  admit(deploymentId: string, index: number, request: R, now: number): boolean {
    if (this.holders.has(deploymentId)) return true;
    if (this.holders.size < this.maxConcurrent && this.waiting.size === 0) {
      this.holders.set(deploymentId, now);
      return true;
    }
    const parked = this.waiting.get(deploymentId) ?? new Map<number, R>();
    parked.set(index, request);
    this.waiting.set(deploymentId, parked);
    return false;
  }

  /** A chunk was served to this holder (it is active, not idle). */
  touch(deploymentId: string, now: number): void {
    if (this.holders.has(deploymentId)) this.holders.set(deploymentId, now);
  }

  /**
   * The deployment stopped downloading (finished, failed, gone): its slot and any parked requests
   * go. Returns the requests of the deployments admitted into freed slots, to be served now.
   */
  release(deploymentId: string, now: number): R[] {
    this.waiting.delete(deploymentId);
    if (!this.holders.delete(deploymentId)) return [];
    return this.fill(now);
  }

  /**
   * Frees slots of holders idle longer than `idleMs` (a device that vanished or is slow to report
   * its next state); returns what `release` returns.
   */
  expireIdle(now: number, idleMs: number): R[] {
    let freed = false;
    for (const [id, at] of this.holders) {
      if (now - at > idleMs) {
        this.holders.delete(id);
        freed = true;
      }
    }
    return freed ? this.fill(now) : [];
  }

  private fill(now: number): R[] {
    const out: R[] = [];
    for (const [id, parked] of this.waiting) {
      if (this.holders.size >= this.maxConcurrent) break;
      this.waiting.delete(id);
      out.push(...parked.values());
      this.holders.set(id, now);
    }
    return out;
  }
}
