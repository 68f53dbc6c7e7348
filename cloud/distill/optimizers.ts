import * as tf from '@tensorflow/tfjs';

/**
 * Small optimisers whose whole state is an ordered tensor list, so a checkpoint can save and
 * restore it by position (tf.train optimisers key their slots by variable name, and names change
 * between processes).
 */
export interface OptimizerState {
  step: number;
  slots: tf.Tensor[];
}

/**
 * Float32 rounding of every intermediate: the host updates below do the tensor version's
 * operations in the same order, each rounded to float32 as a float32 kernel rounds it, so they
 * produce the same numbers (optimizers.test.ts checks it against the tensor path).
 */
const f32 = Math.fround;

/**
 * Where an optimiser runs its update. `host`: one pass over each variable's values in
 * JavaScript (read, update, one upload), instead of 6 (SGD) or 11 (Adam) tensor kernels per
 * variable. A student of 13 variables paid ~80 kernel dispatches per step for its update, each
 * on a tiny tensor; on wasm a dispatch costs ~10 µs and a small copy well under that.
 * `tensor`: the original tensor-op update, kept as the reference.
 */
export type UpdatePath = 'host' | 'tensor';

/** Replaces a variable's value by a new float32 array (the variable takes the buffer over). */
function assignValues(x: tf.Variable, values: Float32Array): void {
  const t = tf.tensor(values, x.shape, 'float32');
  x.assign(t);
  t.dispose();
}

/** Host-side optimiser slots: one float32 array per variable, saved as tensors. */
class HostSlots {
  constructor(
    readonly values: Float32Array[],
    readonly shapes: number[][],
  ) {}

  static zeros(vars: readonly tf.Variable[]): HostSlots {
    return new HostSlots(
      vars.map((v) => new Float32Array(v.size)),
      vars.map((v) => [...v.shape]),
    );
  }

  static from(tensors: readonly tf.Tensor[]): HostSlots {
    return new HostSlots(
      tensors.map((t) => Float32Array.from(t.dataSync() as Float32Array)),
      tensors.map((t) => [...t.shape]),
    );
  }

  tensors(): tf.Tensor[] {
    return this.values.map((v, i) => tf.tensor(v, this.shapes[i]!, 'float32'));
  }
}

/** PyTorch-style SGD: v ← μ·v + (g + wd·θ); θ ← θ − lr·v. */
export class SgdMomentum {
  lr: number;
  private v: tf.Variable[] | null = null;
  private hv: HostSlots | null = null;
  step = 0;

  constructor(
    lr: number,
    readonly momentum: number,
    readonly weightDecay: number,
    readonly path: UpdatePath = 'host',
  ) {
    this.lr = lr;
  }

  apply(vars: readonly tf.Variable[], grads: readonly tf.Tensor[]): void {
    if (this.path === 'host') this.applyHost(vars, grads);
    else this.applyTensor(vars, grads);
    this.step++;
  }

  private applyHost(vars: readonly tf.Variable[], grads: readonly tf.Tensor[]): void {
    if (!this.hv) this.hv = HostSlots.zeros(vars);
    const wd = f32(this.weightDecay);
    const mu = f32(this.momentum);
    const lr = f32(this.lr);
    vars.forEach((x, i) => {
      // dataSync may return the backend's own buffer (cpu): read only, write a new array.
      const xs = x.dataSync() as Float32Array;
      const g = grads[i]!.dataSync() as Float32Array;
      const v = this.hv!.values[i]!;
      const out = new Float32Array(xs.length);
      for (let j = 0; j < xs.length; j++) {
        const gj = this.weightDecay > 0 ? f32(g[j]! + f32(xs[j]! * wd)) : g[j]!;
        const vj = f32(f32(v[j]! * mu) + gj);
        v[j] = vj;
        out[j] = f32(xs[j]! - f32(vj * lr));
      }
      assignValues(x, out);
    });
  }

  private applyTensor(vars: readonly tf.Variable[], grads: readonly tf.Tensor[]): void {
    if (!this.v) this.v = vars.map(zeroSlot);
    tf.tidy(() => {
      vars.forEach((x, i) => {
        const g = this.weightDecay > 0 ? tf.add(grads[i]!, tf.mul(x, this.weightDecay)) : grads[i]!;
        const v = tf.add(tf.mul(this.v![i]!, this.momentum), g);
        this.v![i]!.assign(v);
        x.assign(tf.sub(x, tf.mul(v, this.lr)));
      });
    });
  }

  state(): OptimizerState {
    if (this.path === 'host') return { step: this.step, slots: this.hv ? this.hv.tensors() : [] };
    return { step: this.step, slots: this.v ? this.v.map((t) => t.clone()) : [] };
  }

  restore(s: OptimizerState): void {
    this.dispose();
    this.step = s.step;
    if (this.path === 'host') this.hv = s.slots.length ? HostSlots.from(s.slots) : null;
    else this.v = s.slots.length ? s.slots.map((t) => tf.variable(t, false)) : null;
  }

  dispose(): void {
    this.v?.forEach((t) => t.dispose());
    this.v = null;
    this.hv = null;
  }
}

/** Adam (Kingma & Ba) with bias correction; Fast-DFKD uses betas (0.5, 0.999) for the generator. */
export class Adam {
  private m: tf.Variable[] | null = null;
  private s: tf.Variable[] | null = null;
  private hm: HostSlots | null = null;
  private hs: HostSlots | null = null;
  step = 0;

  constructor(
    public lr: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly eps = 1e-8,
    readonly path: UpdatePath = 'host',
  ) {}

  apply(vars: readonly tf.Variable[], grads: readonly tf.Tensor[]): void {
    this.step++;
    const c1 = 1 - Math.pow(this.beta1, this.step);
    const c2 = 1 - Math.pow(this.beta2, this.step);
    if (this.path === 'host') this.applyHost(vars, grads, c1, c2);
    else this.applyTensor(vars, grads, c1, c2);
  }

  private applyHost(vars: readonly tf.Variable[], grads: readonly tf.Tensor[], c1: number, c2: number): void {
    if (!this.hm) {
      this.hm = HostSlots.zeros(vars);
      this.hs = HostSlots.zeros(vars);
    }
    const b1 = f32(this.beta1);
    const b2 = f32(this.beta2);
    const a1 = f32(1 - this.beta1);
    const a2 = f32(1 - this.beta2);
    const k1 = f32(c1);
    const k2 = f32(c2);
    const eps = f32(this.eps);
    const lr = f32(this.lr);
    vars.forEach((x, i) => {
      const xs = x.dataSync() as Float32Array;
      const g = grads[i]!.dataSync() as Float32Array;
      const m = this.hm!.values[i]!;
      const s = this.hs!.values[i]!;
      const out = new Float32Array(xs.length);
      for (let j = 0; j < xs.length; j++) {
        const gj = g[j]!;
        const mj = f32(f32(m[j]! * b1) + f32(gj * a1));
        const sj = f32(f32(s[j]! * b2) + f32(f32(gj * gj) * a2));
        m[j] = mj;
        s[j] = sj;
        const update = f32(f32(mj / k1) / f32(f32(Math.sqrt(f32(sj / k2))) + eps));
        out[j] = f32(xs[j]! - f32(update * lr));
      }
      assignValues(x, out);
    });
  }

  private applyTensor(vars: readonly tf.Variable[], grads: readonly tf.Tensor[], c1: number, c2: number): void {
    if (!this.m) {
      this.m = vars.map(zeroSlot);
      this.s = vars.map(zeroSlot);
    }
    tf.tidy(() => {
      vars.forEach((x, i) => {
        const g = grads[i]!;
        const m = tf.add(tf.mul(this.m![i]!, this.beta1), tf.mul(g, 1 - this.beta1));
        const s = tf.add(tf.mul(this.s![i]!, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        this.m![i]!.assign(m);
        this.s![i]!.assign(s);
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(s, c2)), this.eps));
        x.assign(tf.sub(x, tf.mul(update, this.lr)));
      });
    });
  }

  state(): OptimizerState {
    if (this.path === 'host') return { step: this.step, slots: this.hm ? [...this.hm.tensors(), ...this.hs!.tensors()] : [] };
    return { step: this.step, slots: this.m ? [...this.m, ...this.s!].map((t) => t.clone()) : [] };
  }

  restore(st: OptimizerState): void {
    this.dispose();
    this.step = st.step;
    if (st.slots.length) {
      const half = st.slots.length / 2;
      if (this.path === 'host') {
        this.hm = HostSlots.from(st.slots.slice(0, half));
        this.hs = HostSlots.from(st.slots.slice(half));
      } else {
        this.m = st.slots.slice(0, half).map((t) => tf.variable(t, false));
        this.s = st.slots.slice(half).map((t) => tf.variable(t, false));
      }
    }
  }

  dispose(): void {
    this.m?.forEach((t) => t.dispose());
    this.s?.forEach((t) => t.dispose());
    this.m = this.s = null;
    this.hm = this.hs = null;
  }
}

/** A zero-filled slot variable; the tidy frees the temporary zeros the variable was made from. */
function zeroSlot(x: tf.Tensor): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zerosLike(x), false));
}
