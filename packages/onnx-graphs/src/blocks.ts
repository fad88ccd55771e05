// The pieces of a GPT-2 block as ONNX nodes, shared by the split graphs and the monolithic graph.
import type { Activation } from '@splitwise/core';
import type { GraphBuilder } from './graph-builder.ts';

const GELU_C = Math.sqrt(2 / Math.PI);
/** What transformers fills masked scores with (torch.finfo(float32).min). */
const MASKED = -3.4028234663852886e38;

export function layerNorm(b: GraphBuilder, x: string, gamma: string, beta: string, eps: number): string {
  return b.op('LayerNormalization', [x, gamma, beta], { axis: -1, epsilon: { float: eps } });
}

/** The FFN nonlinearity, written out so ORT's Gelu/FastGelu fusions can find it. */
export function activation(b: GraphBuilder, x: string, kind: Activation): string {
  switch (kind) {
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast': {
      // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
      const x3 = b.op('Mul', [b.op('Mul', [x, x]), x]);
      const inner = b.op('Mul', [b.op('Add', [x, b.op('Mul', [x3, b.float(0.044715)])]), b.float(GELU_C)]);
      const t = b.op('Add', [b.op('Tanh', [inner]), b.float(1)]);
      return b.op('Mul', [b.op('Mul', [x, b.float(0.5)]), t]);
    }
    case 'gelu': {
      const e = b.op('Add', [b.op('Erf', [b.op('Div', [x, b.float(Math.SQRT2)])]), b.float(1)]);
      return b.op('Mul', [b.op('Mul', [x, b.float(0.5)]), e]);
    }
    case 'relu':
      return b.op('Relu', [x]);
  }
}

/** dim `axis` of `x`'s shape as a 0-d int64 tensor. */
export function dim(b: GraphBuilder, x: string, axis: number): string {
  return b.op('Gather', [b.op('Shape', [x]), b.int(axis)], { axis: 0 });
}

/**
 * Causal self-attention over a KV cache, for any number of heads h:
 *   q, k, v [h, T, hd]; past_k, past_v [h, P, hd]
 *   -> context [h, T, hd], present_k, present_v [h, P+T, hd]
 * New query t sits at absolute position P+t and may attend to keys 0..P+t.
 */
export function causalAttention(
  b: GraphBuilder,
  q: string,
  k: string,
  v: string,
  pastK: string,
  pastV: string,
  scale: string,
): { context: string; presentK: string; presentV: string } {
  const presentK = b.op('Concat', [pastK, k], { axis: 1 });
  const presentV = b.op('Concat', [pastV, v], { axis: 1 });
  const scores = b.op('Mul', [b.op('MatMul', [q, b.op('Transpose', [presentK], { perm: [0, 2, 1] })]), scale]); // [h, T, P+T]
  const T = dim(b, q, 1), total = dim(b, presentK, 1), P = b.op('Sub', [total, T]);
  const shape = b.op('Concat', [b.op('Unsqueeze', [T, b.ints([0])]), b.op('Unsqueeze', [total, b.ints([0])])], { axis: 0 });
  const ones = b.op('ConstantOfShape', [shape], { value: { tensor: Float32Array.of(1), dims: [1] } });
  const allowed = b.op('Cast', [b.op('Trilu', [ones, P], { upper: 0 })], { to: 9 /* BOOL */ }); // [T, P+T]
  const masked = b.op('Where', [allowed, scores, b.float(MASKED)]);
  const context = b.op('MatMul', [b.op('Softmax', [masked], { axis: -1 }), presentV]); // [h, T, hd]
  return { context, presentK, presentV };
}
