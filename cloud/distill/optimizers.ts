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

/** PyTorch-style SGD: v ← μ·v + (g + wd·θ); θ ← θ − lr·v. */
export class SgdMomentum {
  lr: number;
  private v: tf.Variable[] | null = null;
  step = 0;

  constructor(lr: number, readonly momentum: number, readonly weightDecay: number) {
    this.lr = lr;
  }

  apply(vars: readonly tf.Variable[], grads: readonly tf.Tensor[]): void {
    if (!this.v) this.v = vars.map(zeroSlot);
    tf.tidy(() => {
      vars.forEach((x, i) => {
        const g = this.weightDecay > 0 ? tf.add(grads[i]!, tf.mul(x, this.weightDecay)) : grads[i]!;
        const v = tf.add(tf.mul(this.v![i]!, this.momentum), g);
        this.v![i]!.assign(v);
        x.assign(tf.sub(x, tf.mul(v, this.lr)));
      });
    });
    this.step++;
  }

  state(): OptimizerState {
    return { step: this.step, slots: this.v ? this.v.map((t) => t.clone()) : [] };
  }

  restore(s: OptimizerState): void {
    this.dispose();
    this.step = s.step;
    this.v = s.slots.length ? s.slots.map((t) => tf.variable(t, false)) : null;
  }

  dispose(): void {
    this.v?.forEach((t) => t.dispose());
    this.v = null;
  }
}

/** Adam (Kingma & Ba) with bias correction; Fast-DFKD uses betas (0.5, 0.999) for the generator. */
export class Adam {
  private m: tf.Variable[] | null = null;
  private s: tf.Variable[] | null = null;
  step = 0;

  constructor(
    public lr: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly eps = 1e-8,
  ) {}

  apply(vars: readonly tf.Variable[], grads: readonly tf.Tensor[]): void {
    if (!this.m) {
      this.m = vars.map(zeroSlot);
      this.s = vars.map(zeroSlot);
    }
    this.step++;
    const c1 = 1 - Math.pow(this.beta1, this.step);
    const c2 = 1 - Math.pow(this.beta2, this.step);
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
    return { step: this.step, slots: this.m ? [...this.m, ...this.s!].map((t) => t.clone()) : [] };
  }

  restore(st: OptimizerState): void {
    this.dispose();
    this.step = st.step;
    if (st.slots.length) {
      const half = st.slots.length / 2;
      this.m = st.slots.slice(0, half).map((t) => tf.variable(t, false));
      this.s = st.slots.slice(half).map((t) => tf.variable(t, false));
    }
  }

  dispose(): void {
    this.m?.forEach((t) => t.dispose());
    this.s?.forEach((t) => t.dispose());
    this.m = this.s = null;
  }
}

/** A zero-filled slot variable; the tidy frees the temporary zeros the variable was made from. */
function zeroSlot(x: tf.Tensor): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zerosLike(x), false));
}
