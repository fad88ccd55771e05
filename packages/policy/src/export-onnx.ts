// The policy's actor as ONNX (opset 17), written with the project's GraphBuilder: Gemm, Tanh,
// Unsqueeze, Add and MatMul only, so onnxruntime-node and onnxruntime-web (WASM) both run it.
//   inputs:  features [B, FEATURE_DIM]
//   outputs: frac_logits [B, NF], prec_logits [B, NP], scores [B, NF, 2L]
import { GraphBuilder } from '@splitwise/onnx-graphs';
import { NF, NP } from './action.ts';
import type { Dense, PolicyWeights } from './network.ts';

export const POLICY_IO = { input: 'features', outputs: ['frac_logits', 'prec_logits', 'scores'] } as const;

export function buildPolicyOnnx(w: PolicyWeights): Uint8Array {
  const b = new GraphBuilder('splitwise_policy');
  const gemm = (x: string, d: Dense, name: string): string =>
    b.op('Gemm', [x, b.initializer(`${name}.w`, [d.inDim, d.outDim], d.w), b.initializer(`${name}.b`, [d.outDim], d.b)]);
  const x = b.input(POLICY_IO.input, 'float32', ['B', w.featureDim]);
  const h = b.op('Tanh', [gemm(b.op('Tanh', [gemm(x, w.l1, 'l1')]), w.l2, 'l2')]);
  b.output(gemm(h, w.frac, 'frac'), 'frac_logits', 'float32', ['B', NF]);
  b.output(gemm(h, w.prec, 'prec'), 'prec_logits', 'float32', ['B', NP]);
  const base = b.op('Unsqueeze', [gemm(h, w.low, 'low'), b.ints([1])]); // [B, 1, lowHidden]
  const z = b.op('Tanh', [b.op('Add', [base, b.initializer('emb', [NF, w.lowHidden], w.emb)])]); // [B, NF, lowHidden]
  const scores = b.op('Add', [b.op('MatMul', [z, b.initializer('score.w', [w.score.inDim, w.score.outDim], w.score.w)]), b.initializer('score.b', [w.blocks], w.score.b)]);
  b.output(scores, 'scores', 'float32', ['B', NF, w.blocks]);
  return b.toBytes();
}
