// The weightless split graphs of the LLaMA family (LLaMA, Mistral, Qwen2), the counterpart of
// ../split-graphs.ts. Weights arrive as inputs named exactly as core's llamaFamily.bind() feeds
// them, so one graph serves every layer and every subset of attention units or FFN chunks.
//
// The attention unit is a KV group: KV head g with its r = nHead / nKvHead query heads. For u fed
// units: w_q [E, u*r*hd] (query head j of the subset belongs to unit floor(j / r)), w_k, w_v
// [E, u*hd], w_o [u*r*hd, E]; the KV cache is [u, P, hd], keys stored after RoPE. Every call
// carries the absolute positions (int64 [T]) its rows sit at.
import { buildModelGraph, familyOf, requireFamily, tensor, type Checkpoint, type LlamaConfig, type SplitGraphs, type SubsetKind, type TensorLike } from '@splitwise/core';
import { GraphBuilder, type Dim } from '../graph-builder.ts';
import { dim } from '../blocks.ts';
import { linear } from '../linear.ts';
import { fromFeeds, lmHeadLogits } from '../split-graphs.ts';
import { MASKED, ropeCosSin, rmsNorm, swiglu } from './blocks.ts';

/** Where a graph's weights come from: graph inputs (weightless graphs) or initializers. */
type Weight = (name: string, dims: Dim[]) => string;
const asInputs = (b: GraphBuilder): Weight => (name, dims) => b.input(name, 'float32', dims);

/**
 * Rotate [..., T, hd] by angles cos, sin [T, hd/2], HF's rotate_half layout written per half:
 * (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin).
 */
export function rope(b: GraphBuilder, c: LlamaConfig, x: string, cos: string, sin: string): string {
  const half = c.headDim / 2;
  const [x1, x2] = b.ops('Split', [x, b.ints([half, half])], { axis: -1 }, 2) as [string, string];
  const lo = b.op('Sub', [b.op('Mul', [x1, cos]), b.op('Mul', [x2, sin])]);
  const hi = b.op('Add', [b.op('Mul', [x2, cos]), b.op('Mul', [x1, sin])]);
  return b.op('Concat', [lo, hi], { axis: -1 });
}

/** h [T, E] @ W (+ bias) -> [T, units, hd] -> [units, T, hd]. */
function kvHeads(b: GraphBuilder, c: LlamaConfig, h: string, w: string, bias: string | undefined): string {
  let y = linear(b, h, w);
  if (bias) y = b.op('Add', [y, bias]);
  return b.op('Transpose', [b.op('Reshape', [y, b.ints([0, -1, c.headDim])])], { perm: [1, 0, 2] });
}

/** The keys (after RoPE) and values of the fed units for rows x at `positions`: [units, T, hd]. */
function keysValues(b: GraphBuilder, c: LlamaConfig, h: string, rot: { cos: string; sin: string }, w: Weight) {
  const E = c.nEmbd;
  const wK = w('w_k', [E, 'mk']), wV = w('w_v', [E, 'mk']);
  const bK = c.qkvBias ? w('b_k', ['mk']) : undefined, bV = c.qkvBias ? w('b_v', ['mk']) : undefined;
  return { k: rope(b, c, kvHeads(b, c, h, wK, bK), rot.cos, rot.sin), v: kvHeads(b, c, h, wV, bV) };
}

/** Attention of the fed KV groups through their rows of o_proj: y [T, E] (no residual). */
function attention(b: GraphBuilder, c: LlamaConfig, x: string, positions: string, w: Weight) {
  const E = c.nEmbd, hd = c.headDim, r = c.nHead / c.nKvHead;
  const g = w('ln_g', [E]);
  const wQ = w('w_q', [E, 'mq']);
  const bQ = c.qkvBias ? w('b_q', ['mq']) : undefined;
  const wO = w('w_o', ['mq', E]);
  const pastK = b.input('past_k', 'float32', ['units', 'past', hd]);
  const pastV = b.input('past_v', 'float32', ['units', 'past', hd]);

  const h = rmsNorm(b, x, g, c.rmsNormEps);
  const rot = ropeCosSin(b, c, positions);
  const { k, v } = keysValues(b, c, h, rot, w);
  let q = linear(b, h, wQ);
  if (bQ) q = b.op('Add', [q, bQ]);
  // [T, units*r*hd] -> [T, units, r, hd] -> [units, r, T, hd], rotated, -> [units, r*T, hd] (row i*T + t)
  q = b.op('Transpose', [b.op('Reshape', [q, b.ints([0, -1, r, hd])])], { perm: [1, 2, 0, 3] });
  q = b.op('Reshape', [rope(b, c, q, rot.cos, rot.sin), b.ints([0, -1, hd])]);

  const presentK = b.op('Concat', [pastK, k], { axis: 1 });
  const presentV = b.op('Concat', [pastV, v], { axis: 1 }); // [units, P+T, hd]
  const scores = b.op('Mul', [b.op('MatMul', [q, b.op('Transpose', [presentK], { perm: [0, 2, 1] })]), b.float(1 / Math.sqrt(hd))]); // [units, r*T, P+T]
  // causal mask as ../blocks.ts builds it: query t (absolute P+t) sees keys 0..P+t; tiled over the r heads of a unit
  const T = dim(b, x, 0), total = dim(b, presentK, 1), P = b.op('Sub', [total, T]);
  const shape = b.op('Concat', [b.op('Unsqueeze', [T, b.ints([0])]), b.op('Unsqueeze', [total, b.ints([0])])], { axis: 0 });
  const ones = b.op('ConstantOfShape', [shape], { value: { tensor: Float32Array.of(1), dims: [1] } });
  const lower = b.op('Trilu', [ones, P], { upper: 0 }); // [T, P+T]
  const allowed = b.op('Cast', [b.op('Tile', [lower, b.ints([r, 1])])], { to: 9 /* BOOL */ }); // [r*T, P+T]
  const probs = b.op('Softmax', [b.op('Where', [allowed, scores, b.float(MASKED)])], { axis: -1 });
  const context = b.op('Reshape', [b.op('MatMul', [probs, presentV]), b.ints([0, r, -1, hd])]); // [units, r, T, hd]
  const merged = b.op('Reshape', [b.op('Transpose', [context], { perm: [2, 0, 1, 3] }), b.ints([0, -1])]); // [T, units*r*hd]
  return { y: linear(b, merged, wO), presentK, presentV };
}

/** SwiGLU over the fed hidden units through their rows of down_proj: [T, E]. */
function mlp(b: GraphBuilder, c: LlamaConfig, x: string, w: Weight): string {
  const E = c.nEmbd;
  const g = w('ln_g', [E]);
  const wGate = w('w_gate', [E, 'hidden']), wUp = w('w_up', [E, 'hidden']), wDown = w('w_down', ['hidden', E]);
  return swiglu(b, rmsNorm(b, x, g, c.rmsNormEps), wGate, wUp, wDown);
}

/** A whole layer: x1 = x + attn(x); x_out = x1 + mlp(x1). Weights as in attn and ffn, prefixed "attn." / "mlp.". */
function wholeLayer(b: GraphBuilder, c: LlamaConfig, w: Weight): void {
  const E = c.nEmbd, hd = c.headDim;
  const x = b.input('x', 'float32', ['T', E]);
  const positions = b.input('positions', 'int64', ['T']);
  const a = attention(b, c, x, positions, (n, d) => w(`attn.${n}`, d));
  const x1 = b.op('Add', [x, a.y]);
  const x2 = b.op('Add', [x1, mlp(b, c, x1, (n, d) => w(`mlp.${n}`, d))]);
  b.output(x2, 'x_out', 'float32', ['T', E]);
  b.output(a.presentK, 'present_k', 'float32', ['units', 'total', hd]);
  b.output(a.presentV, 'present_v', 'float32', ['units', 'total', hd]);
}

/** The `attn` graph: x [T, E], positions [T], past_k, past_v in; y, present_k, present_v out. */
function attnGraph(b: GraphBuilder, c: LlamaConfig, w: Weight): void {
  const E = c.nEmbd, hd = c.headDim;
  const x = b.input('x', 'float32', ['T', E]);
  const positions = b.input('positions', 'int64', ['T']);
  const r = attention(b, c, x, positions, w);
  b.output(r.y, 'y', 'float32', ['T', E]);
  b.output(r.presentK, 'present_k', 'float32', ['units', 'total', hd]);
  b.output(r.presentV, 'present_v', 'float32', ['units', 'total', hd]);
}

/** The `ffn` graph: x [T, E] in; y out. */
function ffnGraph(b: GraphBuilder, c: LlamaConfig, w: Weight): void {
  const x = b.input('x', 'float32', ['T', c.nEmbd]);
  b.output(mlp(b, c, x, w), 'y', 'float32', ['T', c.nEmbd]);
}

/** The `kv` graph: x [P, E], positions [P] in; the fed units' keys (after RoPE) and values [units, P, hd] out. */
function kvGraph(b: GraphBuilder, c: LlamaConfig, w: Weight): void {
  const E = c.nEmbd, hd = c.headDim;
  const x = b.input('x', 'float32', ['P', E]);
  const positions = b.input('positions', 'int64', ['P']);
  const h = rmsNorm(b, x, w('ln_g', [E]), c.rmsNormEps);
  const { k, v } = keysValues(b, c, h, ropeCosSin(b, c, positions), w);
  b.output(k, 'k', 'float32', ['units', 'P', hd]);
  b.output(v, 'v', 'float32', ['units', 'P', hd]);
}

/**
 * The `attn` or `ffn` graph with one subset's weights as initializers: `weights` are the feeds
 * core's llama WeightBinding gives that graph (attn: ln_g, w_q, w_k, w_v, w_o, and b_q, b_k, b_v
 * with q/k/v biases; ffn: ln_g, w_gate, w_up, w_down). x and positions (+ past_k, past_v) stay
 * inputs. Built once per (layer, subset), on first use.
 */
export function buildLlamaSubsetGraph(config: LlamaConfig, kind: SubsetKind, weights: Readonly<Record<string, TensorLike>>, label: string, int8Activations = false): Uint8Array {
  const b = new GraphBuilder(label);
  b.int8Activations = int8Activations;
  ({ attn: attnGraph, ffn: ffnGraph, kv: kvGraph })[kind](b, requireFamily(config, 'llama', 'buildLlamaSubsetGraph'), fromFeeds(b, weights));
  return b.toBytes();
}

export function buildLlamaSplitGraphs(config: LlamaConfig): SplitGraphs {
  const c = requireFamily(config, 'llama', 'buildLlamaSplitGraphs');

  const attn = new GraphBuilder('llama.attn');
  attnGraph(attn, c, asInputs(attn));

  const ffn = new GraphBuilder('llama.ffn');
  ffnGraph(ffn, c, asInputs(ffn));

  const block = new GraphBuilder('llama.block');
  wholeLayer(block, c, asInputs(block));

  const kv = new GraphBuilder('llama.kv');
  kvGraph(kv, c, asInputs(kv));

  return { attn: attn.toBytes(), ffn: ffn.toBytes(), block: block.toBytes(), kv: kv.toBytes() };
}

/**
 * Layer l as the `block` graph with its weights as initializers (inputs: x, positions, past_k,
 * past_v): the feeds llamaFamily's WeightBinding gives the weightless `block` graph.
 */
export function buildLlamaLayerGraph(ckpt: Checkpoint<LlamaConfig>, l: number): Uint8Array {
  const b = new GraphBuilder(`llama.layer.${l}`), c = requireFamily(ckpt.config, 'llama', 'buildLlamaLayerGraph');
  b.int8Activations = ckpt.quantized?.activations === 'int8';
  wholeLayer(b, c, fromFeeds(b, familyOf(c).bind(ckpt, buildModelGraph(c)).block(l)));
  return b.toBytes();
}

/** Final RMSNorm + LM head with the head [V, E] as an initializer: x [1, E] -> logits [1, vocab]. */
export function buildLlamaLmHeadGraph(ckpt: Checkpoint<LlamaConfig>): Uint8Array {
  const c = requireFamily(ckpt.config, 'llama', 'buildLlamaLmHeadGraph'), E = c.nEmbd, b = new GraphBuilder('llama.lm_head');
  b.int8Activations = ckpt.quantized?.activations === 'int8';
  const x = b.input('x', 'float32', [1, E]);
  const h = rmsNorm(b, x, b.initializer('norm.weight', [E], tensor(ckpt, 'norm.weight')), c.rmsNormEps);
  b.output(lmHeadLogits(b, ckpt, h), 'logits', 'float32', [1, c.vocabSize]);
  return b.toBytes();
}
