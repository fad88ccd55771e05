// The weightless graphs of the split engine (see SPLIT_GRAPH_IO in @splitwise/core). They depend
// only on the config: weights arrive as inputs, so one graph serves every layer and every subset
// of heads or FFN chunks, and changing the plan never regenerates a graph.
import { headDim, type GPT2Config, type SplitGraphs } from '@splitwise/core';
import { GraphBuilder } from './graph-builder.ts';
import { activation, causalAttention, layerNorm } from './blocks.ts';

/** Shared front of attention: ln_1, the qkv projection, and the per-head split. */
function qkvHeads(b: GraphBuilder, c: GPT2Config, x: string, g: string, beta: string, wQkv: string, bQkv: string) {
  const hd = headDim(c);
  const h = layerNorm(b, x, g, beta, c.layerNormEpsilon);
  const qkv = b.op('Add', [b.op('MatMul', [h, wQkv]), bQkv]); // [T, 3m], columns q|k|v, each head-major
  // [T, 3, heads, hd] -> [3, heads, T, hd]
  const split = b.op('Transpose', [b.op('Reshape', [qkv, b.ints([0, 3, -1, hd])])], { perm: [1, 2, 0, 3] });
  const pick = (i: number): string => b.op('Gather', [split, b.int(i)], { axis: 0 });
  return { q: pick(0), k: pick(1), v: pick(2) };
}

/** Attention of the fed heads through their rows of c_proj: [T, E], no bias. */
function attention(b: GraphBuilder, c: GPT2Config, x: string, names: { g: string; beta: string }) {
  const hd = headDim(c);
  const wQkv = b.input('w_qkv', 'float32', [c.nEmbd, 'qkv_width']);
  const bQkv = b.input('b_qkv', 'float32', ['qkv_width']);
  const wO = b.input('w_o', 'float32', ['m', c.nEmbd]);
  const pastK = b.input('past_k', 'float32', ['heads', 'past', hd]);
  const pastV = b.input('past_v', 'float32', ['heads', 'past', hd]);
  const scale = b.input('scale', 'float32', [1]);
  const { q, k, v } = qkvHeads(b, c, x, names.g, names.beta, wQkv, bQkv);
  const att = causalAttention(b, q, k, v, pastK, pastV, scale);
  const merged = b.op('Reshape', [b.op('Transpose', [att.context], { perm: [1, 0, 2] }), b.ints([0, -1])]); // [T, m]
  return { y: b.op('MatMul', [merged, wO]), presentK: att.presentK, presentV: att.presentV };
}

/** FFN over the fed hidden units through their rows of c_proj: [T, E], no bias. */
function mlp(b: GraphBuilder, c: GPT2Config, x: string, g: string, beta: string): string {
  const wFc = b.input('w_fc', 'float32', [c.nEmbd, 'hidden']);
  const bFc = b.input('b_fc', 'float32', ['hidden']);
  const wProj = b.input('w_proj', 'float32', ['hidden', c.nEmbd]);
  const h = layerNorm(b, x, g, beta, c.layerNormEpsilon);
  const a = activation(b, b.op('Add', [b.op('MatMul', [h, wFc]), bFc]), c.activation);
  return b.op('MatMul', [a, wProj]);
}

export function buildSplitGraphs(c: GPT2Config): SplitGraphs {
  const E = c.nEmbd, hd = headDim(c);
  const present = (b: GraphBuilder, k: string, v: string): void => {
    b.output(k, 'present_k', 'float32', ['heads', 'total', hd]);
    b.output(v, 'present_v', 'float32', ['heads', 'total', hd]);
  };

  const attn = new GraphBuilder('attn');
  {
    const x = attn.input('x', 'float32', ['T', E]);
    const r = attention(attn, c, x, { g: attn.input('ln_g', 'float32', [E]), beta: attn.input('ln_b', 'float32', [E]) });
    attn.output(r.y, 'y', 'float32', ['T', E]);
    present(attn, r.presentK, r.presentV);
  }

  const ffn = new GraphBuilder('ffn');
  {
    const x = ffn.input('x', 'float32', ['T', E]);
    const y = mlp(ffn, c, x, ffn.input('ln_g', 'float32', [E]), ffn.input('ln_b', 'float32', [E]));
    ffn.output(y, 'y', 'float32', ['T', E]);
  }

  const block = new GraphBuilder('block');
  {
    const x = block.input('x', 'float32', ['T', E]);
    const g1 = block.input('ln1_g', 'float32', [E]), b1 = block.input('ln1_b', 'float32', [E]);
    const bO = block.input('b_o', 'float32', [E]);
    const g2 = block.input('ln2_g', 'float32', [E]), b2 = block.input('ln2_b', 'float32', [E]);
    const bProj = block.input('b_proj', 'float32', [E]);
    const a = attention(block, c, x, { g: g1, beta: b1 });
    const x1 = block.op('Add', [block.op('Add', [x, bO]), a.y]);
    const x2 = block.op('Add', [block.op('Add', [x1, bProj]), mlp(block, c, x1, g2, b2)]);
    block.output(x2, 'x_out', 'float32', ['T', E]);
    present(block, a.presentK, a.presentV);
  }

  const kv = new GraphBuilder('kv');
  {
    const x = kv.input('x', 'float32', ['P', E]);
    const g = kv.input('ln_g', 'float32', [E]), beta = kv.input('ln_b', 'float32', [E]);
    const w = kv.input('w_qkv', 'float32', [E, 'qkv_width']), bias = kv.input('b_qkv', 'float32', ['qkv_width']);
    const { k, v } = qkvHeads(kv, c, x, g, beta, w, bias);
    kv.output(k, 'k', 'float32', ['heads', 'P', hd]);
    kv.output(v, 'v', 'float32', ['heads', 'P', hd]);
  }

  const lm = new GraphBuilder('lm_head');
  {
    const x = lm.input('x', 'float32', [1, E]);
    const h = layerNorm(lm, x, lm.input('ln_g', 'float32', [E]), lm.input('ln_b', 'float32', [E]), c.layerNormEpsilon);
    const w = lm.input('w_lm', 'float32', [E, c.vocabSize]);
    lm.output(lm.op('MatMul', [h, w]), 'logits', 'float32', [1, c.vocabSize]);
  }

  return { attn: attn.toBytes(), ffn: ffn.toBytes(), block: block.toBytes(), kv: kv.toBytes(), lm_head: lm.toBytes() };
}
