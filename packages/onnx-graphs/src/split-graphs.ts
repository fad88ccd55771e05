// The weightless graphs of the split engine (see SPLIT_GRAPH_IO in @splitwise/core). They depend
// only on the config: weights arrive as inputs, so one graph serves every layer and every subset
// of heads or FFN chunks, and changing the plan never regenerates a graph.
import { buildModelGraph, familyOf, headDim, lmHead, QUANTIZED_LM_HEAD, quantizedFeeds, readQuantizedFeed, requireFamily, tensor, type Checkpoint, type GPT2Config, type Gpt2Checkpoint, type SplitGraphs, type SubsetKind, type TensorLike } from '@splitwise/core';
import { GraphBuilder, type Dim } from './graph-builder.ts';
import { activation, causalAttention, layerNorm } from './blocks.ts';
import { linear, quantizedInitializer } from './linear.ts';

/** Where a graph's weights come from: graph inputs (weightless graphs) or initializers. */
export type Weight = (name: string, dims: Dim[]) => string;
const asInputs = (b: GraphBuilder): Weight => (name, dims) => b.input(name, 'float32', dims);

/** Shared front of attention: ln_1, the qkv projection, and the per-head split. */
function qkvHeads(b: GraphBuilder, c: GPT2Config, x: string, g: string, beta: string, wQkv: string, bQkv: string) {
  const hd = headDim(c);
  const h = layerNorm(b, x, g, beta, c.layerNormEpsilon);
  const qkv = b.op('Add', [linear(b, h, wQkv), bQkv]); // [T, 3m], columns q|k|v, each head-major
  // [T, 3, heads, hd] -> [3, heads, T, hd]
  const split = b.op('Transpose', [b.op('Reshape', [qkv, b.ints([0, 3, -1, hd])])], { perm: [1, 2, 0, 3] });
  const pick = (i: number): string => b.op('Gather', [split, b.int(i)], { axis: 0 });
  return { q: pick(0), k: pick(1), v: pick(2) };
}

/** Attention of the fed heads through their rows of c_proj: [T, E], no bias. */
function attention(b: GraphBuilder, c: GPT2Config, x: string, w: Weight) {
  const hd = headDim(c);
  const g = w('ln_g', [c.nEmbd]), beta = w('ln_b', [c.nEmbd]);
  const wQkv = w('w_qkv', [c.nEmbd, 'qkv_width']);
  const bQkv = w('b_qkv', ['qkv_width']);
  const wO = w('w_o', ['m', c.nEmbd]);
  const scale = w('scale', [1]);
  const pastK = b.input('past_k', 'float32', ['heads', 'past', hd]);
  const pastV = b.input('past_v', 'float32', ['heads', 'past', hd]);
  const { q, k, v } = qkvHeads(b, c, x, g, beta, wQkv, bQkv);
  const att = causalAttention(b, q, k, v, pastK, pastV, scale);
  const merged = b.op('Reshape', [b.op('Transpose', [att.context], { perm: [1, 0, 2] }), b.ints([0, -1])]); // [T, m]
  return { y: linear(b, merged, wO), presentK: att.presentK, presentV: att.presentV };
}

/** FFN over the fed hidden units through their rows of c_proj: [T, E], no bias. */
function mlp(b: GraphBuilder, c: GPT2Config, x: string, w: Weight): string {
  const g = w('ln_g', [c.nEmbd]), beta = w('ln_b', [c.nEmbd]);
  const wFc = w('w_fc', [c.nEmbd, 'hidden']);
  const bFc = w('b_fc', ['hidden']);
  const wProj = w('w_proj', ['hidden', c.nEmbd]);
  const h = layerNorm(b, x, g, beta, c.layerNormEpsilon);
  const a = activation(b, b.op('Add', [linear(b, h, wFc), bFc]), c.activation);
  return linear(b, a, wProj);
}

/**
 * A whole layer: x + attn(ln_1 x) + b_o, then + mlp(ln_2 .) + b_proj. The attention and MLP
 * weights are named as in the `attn` and `ffn` graphs, prefixed "attn." and "mlp.".
 */
function wholeLayer(b: GraphBuilder, c: GPT2Config, w: Weight): void {
  const E = c.nEmbd, hd = headDim(c);
  const x = b.input('x', 'float32', ['T', E]);
  const a = attention(b, c, x, (n, d) => w(`attn.${n}`, d));
  const x1 = b.op('Add', [b.op('Add', [x, w('attn.b_o', [E])]), a.y]);
  const x2 = b.op('Add', [b.op('Add', [x1, w('mlp.b_proj', [E])]), mlp(b, c, x1, (n, d) => w(`mlp.${n}`, d))]);
  b.output(x2, 'x_out', 'float32', ['T', E]);
  b.output(a.presentK, 'present_k', 'float32', ['heads', 'total', hd]);
  b.output(a.presentV, 'present_v', 'float32', ['heads', 'total', hd]);
}

/** The `attn` graph: x [T, E], past_k, past_v in; y, present_k, present_v out. */
function attnGraph(b: GraphBuilder, c: GPT2Config, w: Weight): void {
  const E = c.nEmbd, hd = headDim(c);
  const x = b.input('x', 'float32', ['T', E]);
  const r = attention(b, c, x, w);
  b.output(r.y, 'y', 'float32', ['T', E]);
  b.output(r.presentK, 'present_k', 'float32', ['heads', 'total', hd]);
  b.output(r.presentV, 'present_v', 'float32', ['heads', 'total', hd]);
}

/** The `ffn` graph: x [T, E] in; y out. */
function ffnGraph(b: GraphBuilder, c: GPT2Config, w: Weight): void {
  const x = b.input('x', 'float32', ['T', c.nEmbd]);
  b.output(mlp(b, c, x, w), 'y', 'float32', ['T', c.nEmbd]);
}

/** The `kv` graph: x [P, E] in; the fed heads' k, v [heads, P, hd] out (rebuilds a KV cache from a checkpoint). */
function kvGraph(b: GraphBuilder, c: GPT2Config, w: Weight): void {
  const E = c.nEmbd, hd = headDim(c);
  const x = b.input('x', 'float32', ['P', E]);
  const g = w('ln_g', [E]), beta = w('ln_b', [E]);
  const wQkv = w('w_qkv', [E, 'qkv_width']), bias = w('b_qkv', ['qkv_width']);
  const { k, v } = qkvHeads(b, c, x, g, beta, wQkv, bias);
  b.output(k, 'k', 'float32', ['heads', 'P', hd]);
  b.output(v, 'v', 'float32', ['heads', 'P', hd]);
}

/**
 * Weights from feeds (a WeightBinding's, for one subset) as initializers under the same names; a
 * quantized weight (its feeds: quant/matrix.ts's quantizedFeeds) becomes MatMulNBits' initializers,
 * which linear() then applies.
 */
export const fromFeeds = (b: GraphBuilder, feeds: Readonly<Record<string, TensorLike>>): Weight => (name) => {
  const q = readQuantizedFeed(feeds, name);
  if (q) return quantizedInitializer(b, name, q);
  const t = feeds[name];
  if (!t || t.dtype !== 'float32') throw new Error(`graph "${b.name}": no float32 weight "${name}" among the subset's feeds`);
  return b.initializer(name, [...t.dims], t.data);
};

/**
 * The `attn` or `ffn` graph with one subset's weights as initializers: `weights` are the feeds
 * core's gpt2 WeightBinding gives that graph (attn: ln_g, ln_b, w_qkv, b_qkv, w_o, scale; ffn:
 * ln_g, ln_b, w_fc, b_fc, w_proj). Only the activations stay inputs, and onnxruntime-web need not
 * copy the weights into WASM memory on every call. Built once per (layer, subset), on first use.
 */
export function buildSubsetGraph(c: GPT2Config, kind: SubsetKind, weights: Readonly<Record<string, TensorLike>>, label: string, int8Activations = false): Uint8Array {
  const b = new GraphBuilder(label);
  b.int8Activations = int8Activations;
  ({ attn: attnGraph, ffn: ffnGraph, kv: kvGraph })[kind](b, requireFamily(c, 'gpt2', 'the GPT-2 subset graph'), fromFeeds(b, weights));
  return b.toBytes();
}

export function buildSplitGraphs(c: GPT2Config): SplitGraphs {
  const attn = new GraphBuilder('attn');
  attnGraph(attn, c, asInputs(attn));

  const ffn = new GraphBuilder('ffn');
  ffnGraph(ffn, c, asInputs(ffn));

  const block = new GraphBuilder('block');
  wholeLayer(block, c, asInputs(block));

  const kv = new GraphBuilder('kv');
  kvGraph(kv, c, asInputs(kv));

  return { attn: attn.toBytes(), ffn: ffn.toBytes(), block: block.toBytes(), kv: kv.toBytes() };
}

/**
 * Layer l with its weights as initializers (the same graph as `block`): the feeds the family's
 * WeightBinding gives the weightless `block` graph, so the names are stated once (arch/gpt2.ts).
 * A runtime can prepack constant weights (onnxruntime's MLAS does, 25% faster GEMV on gpt2-small)
 * and need not copy them per call (onnxruntime-web copies every input). Built once per layer.
 */
export function buildLayerGraph(ckpt: Gpt2Checkpoint, l: number): Uint8Array {
  const b = new GraphBuilder(`layer.${l}`), c = requireFamily(ckpt.config, 'gpt2', 'the GPT-2 layer graph');
  b.int8Activations = ckpt.quantized?.activations === 'int8';
  wholeLayer(b, c, fromFeeds(b, familyOf(c).bind(ckpt as Checkpoint<GPT2Config>, buildModelGraph(c)).block(l)));
  return b.toBytes();
}

/** Final LayerNorm + LM head with the head as an initializer: logits [1, vocab] of one row. */
export function buildLmHeadGraph(ckpt: Gpt2Checkpoint): Uint8Array {
  const c = requireFamily(ckpt.config, 'gpt2', 'the GPT-2 LM head graph'), E = c.nEmbd, b = new GraphBuilder('lm_head');
  b.int8Activations = ckpt.quantized?.activations === 'int8';
  const x = b.input('x', 'float32', [1, E]);
  const ln = (n: string): string => b.initializer(n, [E], tensor(ckpt, n));
  const h = layerNorm(b, x, ln('ln_f.weight'), ln('ln_f.bias'), c.layerNormEpsilon);
  b.output(lmHeadLogits(b, ckpt, h), 'logits', 'float32', [1, c.vocabSize]);
  return b.toBytes();
}

/**
 * h [T, E] -> logits [T, vocab] with the LM head as an initializer: Gemm(transB) over the fp32
 * head [vocab, E], or the quantized head when the checkpoint holds one (QUANTIZED_LM_HEAD).
 */
export function lmHeadLogits(b: GraphBuilder, ckpt: Checkpoint, h: string): string {
  const q = ckpt.quantized?.matrices.get(QUANTIZED_LM_HEAD);
  if (q) return linear(b, h, quantizedInitializer(b, QUANTIZED_LM_HEAD, readQuantizedFeed(quantizedFeeds(QUANTIZED_LM_HEAD, q), QUANTIZED_LM_HEAD)!));
  const w = b.initializer('lm_head', [ckpt.config.vocabSize, ckpt.config.nEmbd], lmHead(ckpt));
  return b.op('Gemm', [h, w], { transB: 1 });
}
