// The pieces of a LLaMA-family layer as ONNX nodes: RMSNorm, the SwiGLU FFN, and the rotary
// angles, shared by the split graphs and the monolithic graph (as ../blocks.ts's LayerNorm and
// activations are for GPT-2). Attention itself is written separately in each, on purpose.
import { ropeInvFreq, type LlamaConfig } from '@splitwise/core';
import type { GraphBuilder } from '../graph-builder.ts';
import { linear } from '../linear.ts';

/** What transformers fills masked scores with (torch.finfo(float32).min). */
export const MASKED = -3.4028234663852886e38;
const FLOAT = 1; // TensorProto.DataType.FLOAT

/**
 * x / sqrt(mean(x^2) + eps) * weight over the last axis. Opset 17 has no RMSNormalization; this
 * is the node pattern transformers' export writes, which onnxruntime fuses into
 * SimplifiedLayerNormalization.
 */
export function rmsNorm(b: GraphBuilder, x: string, weight: string, eps: number): string {
  const ms = b.op('ReduceMean', [b.op('Pow', [x, b.float(2)])], { axes: [-1], keepdims: 1 });
  const norm = b.op('Div', [x, b.op('Sqrt', [b.op('Add', [ms, b.float(eps)])])]);
  return b.op('Mul', [norm, weight]);
}

/** SwiGLU through the fed hidden units: down(silu(h @ gate) * (h @ up)), [T, E], no bias. */
export function swiglu(b: GraphBuilder, h: string, wGate: string, wUp: string, wDown: string): string {
  const gate = linear(b, h, wGate);
  const act = b.op('Mul', [gate, b.op('Sigmoid', [gate])]); // silu
  return linear(b, b.op('Mul', [act, linear(b, h, wUp)]), wDown);
}

/**
 * HF's rotary angles for absolute positions (int64 [T]): freqs = p * inv_freq [T, hd/2], in
 * float32 as transformers computes them. `full` gives emb = concat(freqs, freqs) [T, hd].
 * Returns cos and sin of them. One call per graph (the inv_freq initializer has a fixed name).
 */
export function ropeCosSin(b: GraphBuilder, c: LlamaConfig, positions: string, full = false): { cos: string; sin: string } {
  const inv = Float32Array.from(ropeInvFreq(c));
  const freq = full ? Float32Array.from([...inv, ...inv]) : inv;
  const invFreq = b.initializer(full ? 'rope.emb_freq' : 'rope.inv_freq', [freq.length], freq);
  const p = b.op('Unsqueeze', [b.op('Cast', [positions], { to: FLOAT }), b.ints([1])]); // [T, 1]
  const angles = b.op('Mul', [p, invFreq]);
  return { cos: b.op('Cos', [angles]), sin: b.op('Sin', [angles]) };
}
