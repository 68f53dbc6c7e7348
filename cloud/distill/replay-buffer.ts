import { EdgekdError } from '../../shared/errors';
import { SumTree } from './sum-tree';
import { assertSyntheticBatch, type SyntheticBatch } from './synthetic-batch';

/**
 * The dynamic replay buffer of SSD-KD with proportional priority sampling.
 *
 * - Fixed capacity K; samples are stored with the teacher's predicted class and confidence.
 * - Partial, ordered insertion: of each synthesised batch only the top `fraction` by φ enter
 *   ("Ordered", "Update partially" in the paper's overview figure).
 * - Balanced eviction: when full, a new sample replaces the lowest-priority sample of the most
 *   populated class ("Balancing φ"). With eviction off, a full buffer drops new samples.
 * - Priority sampling (PER, Schaul et al. 2016): P(i) = p_i^α / Σ p_k^α via a sum-tree, importance
 *   weights w_i = (K·P(i))^−β / max_batch w, new samples enter at the running maximum priority.
 *   With `prioritized` off it samples uniformly and every weight is 1.
 * The insertion and eviction rules are a reconstruction (the paper's are not public).
 */
export interface ReplayBufferOptions {
  capacity: number;
  /** [h, w, c] of one sample. */
  sampleShape: readonly [number, number, number];
  numClasses: number;
  prioritized: boolean;
  /** PER exponent α (PER default 0.6; not from the paper). */
  alpha: number;
  /** Added to every priority so no sample's probability is 0. */
  epsilon: number;
}

export interface InsertOptions {
  /** Fraction of the batch offered for insertion, 1 = all. */
  fraction: number;
  /** Offer the highest-φ samples first (and only those, when fraction < 1). */
  ordered: boolean;
  /** Evict from the most populated class (true) or the globally lowest priority (false). */
  balanced: boolean;
  /** When full: replace a victim (true) or drop the new sample (false). */
  evict: boolean;
}

export interface InsertResult {
  inserted: number;
  evicted: number;
  dropped: number;
}

export interface SampleResult {
  indices: Int32Array;
  /** Importance-sampling weights, max 1 within the batch (all 1 when not prioritized). */
  weights: Float32Array;
}

export interface PriorityStats {
  min: number;
  max: number;
  mean: number;
  /** Effective sample size of the sampling distribution divided by the buffer size, in (0, 1]. */
  effectiveFraction: number;
}

export interface CalibrationSet {
  readonly provenance: 'synthetic';
  /** NHWC float32, teacher input domain. */
  readonly data: Float32Array;
  readonly shape: [number, number, number, number];
  /** Teacher-predicted classes, for a class-balanced view. */
  readonly labels: Int32Array;
}

export interface BufferHeader {
  format: 'edgekd-replay-buffer';
  version: 1;
  provenance: 'synthetic';
  options: ReplayBufferOptions;
  size: number;
  maxPriority: number;
  clock: number;
  /** Byte offsets into buffer.bin, in order. */
  sections: Array<{ name: 'images' | 'labels' | 'confidence' | 'priority' | 'insertedAt'; dtype: 'float32' | 'int32' | 'float64'; offset: number; length: number }>;
}

export class ReplayBuffer {
  readonly options: ReplayBufferOptions;
  private readonly dim: number;
  private readonly images: Float32Array;
  private readonly labels: Int32Array;
  private readonly confidence: Float32Array;
  private readonly priority: Float64Array;
  private readonly insertedAt: Int32Array;
  private readonly tree: SumTree;
  private count = 0;
  private maxP = 1;
  /** Insertion clock (one tick per inserted batch), recorded per slot to break ties by age. */
  private clock = 0;

  constructor(options: ReplayBufferOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) {
      throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', `replay buffer capacity must be a positive integer, got ${options.capacity}`);
    }
    this.options = { ...options, sampleShape: [...options.sampleShape] as [number, number, number] };
    this.dim = options.sampleShape[0] * options.sampleShape[1] * options.sampleShape[2];
    const k = options.capacity;
    this.images = new Float32Array(k * this.dim);
    this.labels = new Int32Array(k);
    this.confidence = new Float32Array(k);
    this.priority = new Float64Array(k);
    this.insertedAt = new Int32Array(k);
    this.tree = new SumTree(k);
  }

  get size(): number {
    return this.count;
  }

  get capacity(): number {
    return this.options.capacity;
  }

  classHistogram(): number[] {
    const h = new Array<number>(this.options.numClasses).fill(0);
    for (let i = 0; i < this.count; i++) h[this.labels[i]!]!++;
    return h;
  }

  /**
   * Offers a synthetic batch. `teacherProbs` is the teacher's softmax for it ([n, C]) and `phi`
   * the modulating weight per sample (ranks the offer when `ordered`).
   */
  insert(batch: SyntheticBatch, teacherProbs: Float32Array, phi: Float32Array, opt: InsertOptions): InsertResult {
    assertSyntheticBatch(batch, 'the replay buffer');
    const n = batch.size;
    const C = this.options.numClasses;
    const [, h, w, c] = batch.shape;
    if (h * w * c !== this.dim) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', `batch samples are [${h}, ${w}, ${c}], buffer holds [${this.options.sampleShape.join(', ')}]`);
    if (teacherProbs.length !== n * C || phi.length !== n) throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', 'teacher probabilities or φ do not match the batch size');
    const order = Array.from({ length: n }, (_, i) => i);
    if (opt.ordered) order.sort((a, b) => phi[b]! - phi[a]! || a - b);
    const offered = opt.fraction >= 1 ? n : Math.max(1, Math.round(opt.fraction * n));
    const counts = this.classHistogram();
    const result: InsertResult = { inserted: 0, evicted: 0, dropped: 0 };
    this.clock++;
    for (let r = 0; r < offered; r++) {
      const i = order[r]!;
      let label = 0;
      for (let k = 1; k < C; k++) if (teacherProbs[i * C + k]! > teacherProbs[i * C + label]!) label = k;
      let slot: number;
      if (this.count < this.capacity) {
        slot = this.count++;
      } else if (!opt.evict) {
        result.dropped++;
        continue;
      } else {
        slot = this.victim(opt.balanced ? argmax(counts) : -1);
        counts[this.labels[slot]!]!--;
        result.evicted++;
      }
      this.images.set(batch.images.subarray(i * this.dim, (i + 1) * this.dim), slot * this.dim);
      this.labels[slot] = label;
      this.confidence[slot] = teacherProbs[i * C + label]!;
      this.insertedAt[slot] = this.clock;
      this.setPriority(slot, this.maxP);
      counts[label]!++;
      result.inserted++;
    }
    return result;
  }

  /** Lowest priority in `cls` (or anywhere when cls < 0); ties go to the oldest. */
  private victim(cls: number): number {
    let best = -1;
    for (let i = 0; i < this.count; i++) {
      if (cls >= 0 && this.labels[i] !== cls) continue;
      if (best < 0 || this.priority[i]! < this.priority[best]! || (this.priority[i] === this.priority[best] && this.insertedAt[i]! < this.insertedAt[best]!)) best = i;
    }
    return best;
  }

  private setPriority(i: number, p: number): void {
    this.priority[i] = p;
    this.tree.set(i, Math.pow(p + this.options.epsilon, this.options.alpha));
  }

  /** Sets the priorities of sampled slots (the per-sample KD divergence of the last step). */
  updatePriorities(indices: ArrayLike<number>, priorities: ArrayLike<number>): void {
    for (let k = 0; k < indices.length; k++) {
      const p = Math.max(0, Number(priorities[k]));
      if (!Number.isFinite(p)) continue;
      this.setPriority(indices[k]!, p);
      if (p > this.maxP) this.maxP = p;
    }
  }

  /**
   * Draws n indices. Prioritized: stratified proportional sampling (one draw per equal-mass
   * segment, PER App. B.2.1) and IS weights with exponent β. Uniform otherwise.
   */
  sample(n: number, beta: number, uniform01: () => number): SampleResult {
    if (this.count === 0) throw new EdgekdError('EDGEKD_INVALID_ARGUMENT', 'cannot sample from an empty replay buffer');
    const indices = new Int32Array(n);
    const weights = new Float32Array(n).fill(1);
    if (!this.options.prioritized) {
      for (let k = 0; k < n; k++) indices[k] = Math.min(this.count - 1, Math.floor(uniform01() * this.count));
      return { indices, weights };
    }
    const total = this.tree.total;
    const seg = total / n;
    let maxW = 0;
    for (let k = 0; k < n; k++) {
      const i = this.tree.find((k + uniform01()) * seg);
      indices[k] = i;
      const prob = this.tree.get(i) / total;
      const wk = Math.pow(this.count * prob, -beta);
      weights[k] = wk;
      if (wk > maxW) maxW = wk;
    }
    for (let k = 0; k < n; k++) weights[k] = weights[k]! / maxW;
    return { indices, weights };
  }

  /** Copies the images of `indices` into one NHWC array. */
  gather(indices: ArrayLike<number>): Float32Array {
    const out = new Float32Array(indices.length * this.dim);
    for (let k = 0; k < indices.length; k++) out.set(this.images.subarray(indices[k]! * this.dim, (indices[k]! + 1) * this.dim), k * this.dim);
    return out;
  }

  labelsOf(indices: ArrayLike<number>): Int32Array {
    return Int32Array.from({ length: indices.length }, (_, k) => this.labels[indices[k]!]!);
  }

  priorityStats(): PriorityStats {
    if (this.count === 0) return { min: 0, max: 0, mean: 0, effectiveFraction: 0 };
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < this.count; i++) {
      const p = this.priority[i]!;
      min = Math.min(min, p);
      max = Math.max(max, p);
      sum += p;
      const m = this.tree.get(i);
      s1 += m;
      s2 += m * m;
    }
    return { min, max, mean: sum / this.count, effectiveFraction: s2 > 0 ? (s1 * s1) / s2 / this.count : 1 };
  }

  /**
   * Up to n samples for int8 calibration, class-balanced by the teacher's label (round-robin
   * over classes). Everything in the buffer entered through `insert`, which admits only
   * generator output, so the set is synthetic by construction.
   */
  exportCalibrationSet(n: number): CalibrationSet {
    const C = this.options.numClasses;
    const byClass: number[][] = Array.from({ length: C }, () => []);
    for (let i = 0; i < this.count; i++) byClass[this.labels[i]!]!.push(i);
    const picked: number[] = [];
    const take = Math.min(n, this.count);
    for (let round = 0; picked.length < take; round++) {
      for (let c = 0; c < C && picked.length < take; c++) {
        const list = byClass[c]!;
        if (round < list.length) picked.push(list[round]!);
      }
    }
    const [h, w, ch] = this.options.sampleShape;
    return { provenance: 'synthetic', data: this.gather(picked), shape: [picked.length, h, w, ch], labels: this.labelsOf(picked) };
  }

  /** The header (JSON) and body (buffer.bin) of a saved buffer. */
  serialize(): { header: BufferHeader; body: Buffer } {
    const n = this.count;
    const parts: Array<[BufferHeader['sections'][number]['name'], BufferHeader['sections'][number]['dtype'], ArrayBufferView]> = [
      ['images', 'float32', this.images.subarray(0, n * this.dim)],
      ['labels', 'int32', this.labels.subarray(0, n)],
      ['confidence', 'float32', this.confidence.subarray(0, n)],
      ['priority', 'float64', this.priority.subarray(0, n)],
      ['insertedAt', 'int32', this.insertedAt.subarray(0, n)],
    ];
    const sections: BufferHeader['sections'] = [];
    const chunks: Buffer[] = [];
    let offset = 0;
    for (const [name, dtype, view] of parts) {
      const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
      sections.push({ name, dtype, offset, length: bytes.length });
      chunks.push(bytes);
      offset += bytes.length;
    }
    return {
      header: { format: 'edgekd-replay-buffer', version: 1, provenance: 'synthetic', options: this.options, size: n, maxPriority: this.maxP, clock: this.clock, sections },
      body: Buffer.concat(chunks),
    };
  }

  static deserialize(header: BufferHeader, body: Uint8Array, override?: Partial<ReplayBufferOptions>): ReplayBuffer {
    if (header?.format !== 'edgekd-replay-buffer' || header.version !== 1) throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', 'not an edgekd replay buffer (format/version)');
    if (header.provenance !== 'synthetic') throw new EdgekdError('EDGEKD_REAL_DATA_FORBIDDEN', `a replay buffer must hold synthetic samples only; header says '${String(header.provenance)}'`);
    const opts = { ...header.options, ...override };
    const buf = new ReplayBuffer(opts);
    if (opts.sampleShape.join() !== header.options.sampleShape.join() || opts.numClasses !== header.options.numClasses) {
      throw new EdgekdError('EDGEKD_SHAPE_MISMATCH', 'a warm-start buffer must keep its sample shape and class count');
    }
    const copy = new Uint8Array(body).buffer; // aligned copy
    const view = (name: string) => {
      const s = header.sections.find((x) => x.name === name);
      if (!s || s.offset + s.length > copy.byteLength) throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', `buffer.bin lacks section ${name}`);
      return s;
    };
    const n = Math.min(header.size, opts.capacity);
    const im = view('images');
    const f32 = (s: { offset: number; length: number }) => new Float32Array(copy, s.offset, s.length / 4);
    const images = f32(im);
    if (images.length !== header.size * buf.dim) throw new EdgekdError('EDGEKD_CHECKPOINT_INVALID', 'buffer.bin image section has the wrong length');
    const labels = new Int32Array(copy, view('labels').offset, header.size);
    const conf = new Float32Array(copy, view('confidence').offset, header.size);
    const pri = new Float64Array(copy, view('priority').offset, header.size);
    const at = new Int32Array(copy, view('insertedAt').offset, header.size);
    buf.images.set(images.subarray(0, n * buf.dim));
    buf.labels.set(labels.subarray(0, n));
    buf.confidence.set(conf.subarray(0, n));
    buf.insertedAt.set(at.subarray(0, n));
    buf.count = n;
    buf.maxP = header.maxPriority;
    buf.clock = header.clock;
    for (let i = 0; i < n; i++) buf.setPriority(i, pri[i]!);
    return buf;
  }
}

/**
 * The importance weights a KD step applies (see `BufferConfig.importanceNorm`): `max` keeps PER's
 * w / max w (all ≤ 1, so the mean weight, and with it the student's step size, shrinks as the
 * priorities spread), `mean` rescales to mean 1 (the same relative correction at an unchanged step
 * size), `off` applies none.
 */
export function importanceWeights(maxNormalised: Float32Array, norm: 'max' | 'mean' | 'off'): Float32Array | undefined {
  if (norm === 'off') return undefined;
  if (norm === 'max') return maxNormalised;
  const mean = maxNormalised.reduce((a, v) => a + v, 0) / maxNormalised.length;
  return mean > 0 ? maxNormalised.map((v) => v / mean) : maxNormalised;
}

function argmax(a: ArrayLike<number>): number {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[b]!) b = i;
  return b;
}
