// The policy network's weights (platform-neutral) and a plain-JS forward pass of the actor.
//
//   h  = tanh(tanh(x W1 + b1) W2 + b2)                       shared trunk, [hidden]
//   fraction logits = h Wf + bf        precision logits = h Wp + bp           (high level)
//   z_f = tanh(h Wl + bl + Emb[f])     scores_f = z_f Ws + bs   for every f   (low level, [NF, 2L])
// The critic is a separate MLP of the same shape (it is not exported). Weights are row-major
// Float32Arrays in the [in, out] layout of a Gemm without transposes.
import { NF, NP, type PolicyOutputs } from './action.ts';

export interface Dense {
  w: Float32Array; // [inDim, outDim]
  b: Float32Array; // [outDim]
  inDim: number;
  outDim: number;
}

export interface PolicyWeights {
  featureDim: number;
  hidden: number;
  lowHidden: number;
  blocks: number; // 2L
  l1: Dense;
  l2: Dense;
  frac: Dense;
  prec: Dense;
  low: Dense;
  /** [NF, lowHidden]: the low level's embedding of the chosen fraction. */
  emb: Float32Array;
  score: Dense;
  /** Log std of the score noise while training (state-independent). */
  logStd: Float32Array;
}

function dense(x: Float32Array, d: Dense, act?: 'tanh'): Float32Array {
  const out = new Float32Array(d.outDim);
  for (let j = 0; j < d.outDim; j++) {
    let s = d.b[j]!;
    for (let i = 0; i < d.inDim; i++) s += x[i]! * d.w[i * d.outDim + j]!;
    out[j] = act === 'tanh' ? Math.tanh(s) : s;
  }
  return out;
}

/** The actor's outputs for one feature vector, in plain JavaScript (float64 accumulation). */
export function forwardJs(w: PolicyWeights, x: Float32Array): PolicyOutputs {
  const h = dense(dense(x, w.l1, 'tanh'), w.l2, 'tanh');
  const fracLogits = dense(h, w.frac), precLogits = dense(h, w.prec);
  const base = dense(h, w.low);
  const scores = new Float32Array(NF * w.blocks);
  for (let f = 0; f < NF; f++) {
    const z = base.map((v, j) => Math.tanh(v + w.emb[f * w.lowHidden + j]!));
    scores.set(dense(z, w.score), f * w.blocks);
  }
  return { fracLogits, precLogits, scores };
}

const enc = (a: Float32Array): number[] => Array.from(a);
const denseJson = (d: Dense) => ({ inDim: d.inDim, outDim: d.outDim, w: enc(d.w), b: enc(d.b) });
const denseFrom = (j: { inDim: number; outDim: number; w: number[]; b: number[] }): Dense => ({ inDim: j.inDim, outDim: j.outDim, w: Float32Array.from(j.w), b: Float32Array.from(j.b) });

export function weightsToJson(w: PolicyWeights): object {
  return {
    featureDim: w.featureDim,
    hidden: w.hidden,
    lowHidden: w.lowHidden,
    blocks: w.blocks,
    fractions: NF,
    precisions: NP,
    l1: denseJson(w.l1),
    l2: denseJson(w.l2),
    frac: denseJson(w.frac),
    prec: denseJson(w.prec),
    low: denseJson(w.low),
    emb: enc(w.emb),
    score: denseJson(w.score),
    logStd: enc(w.logStd),
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function weightsFromJson(j: any): PolicyWeights {
  if (j.fractions !== NF || j.precisions !== NP) throw new Error(`policy weights are for ${j.fractions} fractions / ${j.precisions} precisions; this build has ${NF} / ${NP}`);
  return {
    featureDim: j.featureDim,
    hidden: j.hidden,
    lowHidden: j.lowHidden,
    blocks: j.blocks,
    l1: denseFrom(j.l1),
    l2: denseFrom(j.l2),
    frac: denseFrom(j.frac),
    prec: denseFrom(j.prec),
    low: denseFrom(j.low),
    emb: Float32Array.from(j.emb),
    score: denseFrom(j.score),
    logStd: Float32Array.from(j.logStd),
  };
}
