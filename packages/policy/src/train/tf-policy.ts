// The policy and its critic as TensorFlow.js variables (pure-JS CPU backend: no native binary),
// with autograd doing the backward pass. Weights are initialised from the project's seeded Rng, so
// a training run is reproducible bit for bit.
import * as tf from '@tensorflow/tfjs';
import { NF, NP } from '../action.ts';
import type { Dense, PolicyWeights } from '../network.ts';
import type { Rng } from '../rng.ts';

let ready: Promise<void> | undefined;
/** Select the plain-JavaScript CPU backend (once). */
export function initTf(): Promise<void> {
  ready ??= (async () => {
    tf.env().set('IS_NODE', false); // silences the "install tfjs-node" banner; the CPU backend is pure JS either way
    await tf.setBackend('cpu');
    await tf.ready();
  })();
  return ready;
}

interface TfDense {
  w: tf.Variable;
  b: tf.Variable;
  inDim: number;
  outDim: number;
}

function glorot(rng: Rng, inDim: number, outDim: number, gain = 1): Float32Array {
  const lim = gain * Math.sqrt(6 / (inDim + outDim));
  return Float32Array.from({ length: inDim * outDim }, () => rng.uniform(-lim, lim));
}

function mkDense(rng: Rng, inDim: number, outDim: number, _name: string, gain = 1, bias?: Float32Array): TfDense {
  return {
    // tfjs names variables globally: leave the names to it, so that several policies may coexist
    w: tf.variable(tf.tensor2d(glorot(rng, inDim, outDim, gain), [inDim, outDim]), true),
    b: tf.variable(tf.tensor1d(bias ?? new Float32Array(outDim)), true),
    inDim,
    outDim,
  };
}

const apply = (x: tf.Tensor2D, d: TfDense): tf.Tensor2D => tf.add(tf.matMul(x, d.w), d.b) as tf.Tensor2D;

export interface TfPolicyOptions {
  featureDim: number;
  blocks: number;
  hidden?: number;
  lowHidden?: number;
  /** Initial log std of the score noise. */
  logStd0?: number;
  /** Initial score bias spread: block i starts at spread * (2i/(2L-1) - 1), so the cloud takes the tail first. */
  scoreRamp?: number;
}

export class TfPolicy {
  readonly l1: TfDense;
  readonly l2: TfDense;
  readonly frac: TfDense;
  readonly prec: TfDense;
  readonly low: TfDense;
  readonly emb: tf.Variable;
  readonly score: TfDense;
  readonly logStd: tf.Variable;
  readonly c1: TfDense;
  readonly c2: TfDense;
  readonly cv: TfDense;
  readonly hidden: number;
  readonly lowHidden: number;

  constructor(
    rng: Rng,
    readonly o: TfPolicyOptions,
  ) {
    const S = o.featureDim, Hd = (this.hidden = o.hidden ?? 128), Hl = (this.lowHidden = o.lowHidden ?? 64), NB = o.blocks;
    this.l1 = mkDense(rng, S, Hd, 'l1');
    this.l2 = mkDense(rng, Hd, Hd, 'l2');
    this.frac = mkDense(rng, Hd, NF, 'frac', 0.01);
    this.prec = mkDense(rng, Hd, NP, 'prec', 0.01);
    this.low = mkDense(rng, Hd, Hl, 'low');
    this.emb = tf.variable(tf.tensor2d(Float32Array.from({ length: NF * Hl }, () => rng.uniform(-0.1, 0.1)), [NF, Hl]), true);
    const ramp = o.scoreRamp ?? 3;
    this.score = mkDense(rng, Hl, NB, 'score', 0.01, Float32Array.from({ length: NB }, (_, i) => ramp * ((2 * i) / Math.max(1, NB - 1) - 1)));
    this.logStd = tf.variable(tf.fill([NB], o.logStd0 ?? -2), true);
    this.c1 = mkDense(rng, S, Hd, 'c1');
    this.c2 = mkDense(rng, Hd, Hd, 'c2');
    this.cv = mkDense(rng, Hd, 1, 'cv', 0.1);
  }

  get variables(): tf.Variable[] {
    const d = (x: TfDense) => [x.w, x.b];
    return [...d(this.l1), ...d(this.l2), ...d(this.frac), ...d(this.prec), ...d(this.low), this.emb, ...d(this.score), this.logStd, ...d(this.c1), ...d(this.c2), ...d(this.cv)];
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
  }

  trunk(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tanh(apply(tf.tanh(apply(x, this.l1)), this.l2));
  }

  /** [B, NF] and [B, NP] logits. */
  heads(h: tf.Tensor2D): { frac: tf.Tensor2D; prec: tf.Tensor2D } {
    return { frac: apply(h, this.frac), prec: apply(h, this.prec) };
  }

  /** Scores for every fraction bucket: [B, NF, NB]. */
  scoresAll(h: tf.Tensor2D): tf.Tensor3D {
    const base = tf.expandDims(apply(h, this.low), 1); // [B, 1, Hl]
    const z = tf.tanh(tf.add(base, this.emb)) as tf.Tensor3D; // [B, NF, Hl]
    const [B] = h.shape;
    const flat = tf.reshape(z, [B * NF, this.lowHidden]) as tf.Tensor2D;
    return tf.reshape(apply(flat, this.score), [B, NF, this.o.blocks]) as tf.Tensor3D;
  }

  /** Scores for one chosen bucket per row (one-hot [B, NF]): [B, NB]. */
  scoresFor(h: tf.Tensor2D, fracOneHot: tf.Tensor2D): tf.Tensor2D {
    const e = tf.matMul(fracOneHot, this.emb); // [B, Hl]
    const z = tf.tanh(tf.add(apply(h, this.low), e)) as tf.Tensor2D;
    return apply(z, this.score);
  }

  value(x: tf.Tensor2D): tf.Tensor1D {
    const v = apply(tf.tanh(apply(tf.tanh(apply(x, this.c1)), this.c2)), this.cv);
    return tf.reshape(v, [-1]) as tf.Tensor1D;
  }

  /** Actor and critic outputs for a batch, as plain arrays. */
  evaluate(x: Float32Array, B: number): { frac: Float32Array; prec: Float32Array; scores: Float32Array; value: Float32Array } {
    return tf.tidy(() => {
      const xt = tf.tensor2d(x, [B, this.o.featureDim]);
      const h = this.trunk(xt);
      const { frac, prec } = this.heads(h);
      return {
        frac: frac.dataSync() as Float32Array,
        prec: prec.dataSync() as Float32Array,
        scores: this.scoresAll(h).dataSync() as Float32Array,
        value: this.value(xt).dataSync() as Float32Array,
      };
    });
  }

  /** Load actor weights (the critic is left as it is). */
  setWeights(w: PolicyWeights): void {
    const d = (x: TfDense, v: Dense) => {
      x.w.assign(tf.tensor2d(v.w, [v.inDim, v.outDim]));
      x.b.assign(tf.tensor1d(v.b));
    };
    d(this.l1, w.l1);
    d(this.l2, w.l2);
    d(this.frac, w.frac);
    d(this.prec, w.prec);
    d(this.low, w.low);
    this.emb.assign(tf.tensor2d(w.emb, [NF, w.lowHidden]));
    d(this.score, w.score);
    this.logStd.assign(tf.tensor1d(w.logStd));
  }

  toWeights(): PolicyWeights {
    const d = (x: TfDense): Dense => ({ w: Float32Array.from(x.w.dataSync()), b: Float32Array.from(x.b.dataSync()), inDim: x.inDim, outDim: x.outDim });
    return {
      featureDim: this.o.featureDim,
      hidden: this.hidden,
      lowHidden: this.lowHidden,
      blocks: this.o.blocks,
      l1: d(this.l1),
      l2: d(this.l2),
      frac: d(this.frac),
      prec: d(this.prec),
      low: d(this.low),
      emb: Float32Array.from(this.emb.dataSync()),
      score: d(this.score),
      logStd: Float32Array.from(this.logStd.dataSync()),
    };
  }
}
