// The whole LLaMA-family model as one graph with a KV cache, weights as initializers: the
// reference the split engine is checked against. Built the way transformers computes it, and
// independently of the split graphs: q, k, v reshaped to all heads, RoPE as
// q * cos(emb) + rotate_half(q) * sin(emb) over the full head width, repeat_kv by Expand, per-head
// 3-D attention, and a causal mask from comparing positions (the split graphs use Trilu).
import { MONOLITHIC_IO, lmHead, requireFamily, type Checkpoint, type LlamaConfig } from '@splitwise/core';
import { GraphBuilder } from '../graph-builder.ts';
import { dim } from '../blocks.ts';
import { linear } from '../linear.ts';
import { checkMonolithicSize, checkpointInitializers } from '../monolithic-graph.ts';
import { lmHeadLogits } from '../split-graphs.ts';
import { MASKED, ropeCosSin, rmsNorm, swiglu } from './blocks.ts';

export function buildLlamaMonolithicGraph(ckpt: Checkpoint<LlamaConfig>): Uint8Array {
  const c = requireFamily(ckpt.config, 'llama', 'buildLlamaMonolithicGraph'), E = c.nEmbd, H = c.nHead, KV = c.nKvHead, hd = c.headDim, half = hd / 2, r = H / KV;
  checkMonolithicSize(ckpt);
  const b = new GraphBuilder(c.modelType), w = checkpointInitializers(b, ckpt);
  b.int8Activations = ckpt.quantized?.activations === 'int8';

  const ids = b.input(MONOLITHIC_IO.inputIds, 'int64', ['T']);
  const past = Array.from({ length: c.nLayer }, (_, l) => ({
    k: b.input(MONOLITHIC_IO.pastKey(l), 'float32', [KV, 'past', hd]),
    v: b.input(MONOLITHIC_IO.pastValue(l), 'float32', [KV, 'past', hd]),
  }));

  // positions P .. P+T; query t may see keys at positions <= P+t
  const P = dim(b, past[0]!.k, 1), T = dim(b, ids, 0), total = b.op('Add', [P, T]);
  const qPos = b.op('Range', [P, total, b.int(1)]);
  const kPos = b.op('Range', [b.int(0), total, b.int(1)]);
  const allowed = b.op('LessOrEqual', [b.op('Unsqueeze', [kPos, b.ints([0])]), b.op('Unsqueeze', [qPos, b.ints([1])])]); // [T, P+T]
  const { cos, sin } = ropeCosSin(b, c, qPos, true); // [T, hd], emb = concat(freqs, freqs)
  const rotateHalf = (t: string): string => {
    const lo = b.op('Slice', [t, b.ints([0]), b.ints([half]), b.ints([-1])]);
    const hi = b.op('Slice', [t, b.ints([half]), b.ints([hd]), b.ints([-1])]);
    return b.op('Concat', [b.op('Neg', [hi]), lo], { axis: -1 });
  };
  const applyRope = (t: string): string => b.op('Add', [b.op('Mul', [t, cos]), b.op('Mul', [rotateHalf(t), sin])]);
  // [T, n*hd] -> [n, T, hd]
  const toHeads = (t: string, n: number): string => b.op('Transpose', [b.op('Reshape', [t, b.ints([0, n, hd])])], { perm: [1, 0, 2] });
  // transformers' repeat_kv: [KV, S, hd] -> [KV, r, S, hd] -> [H, S, hd]
  const repeatKv = (t: string): string => {
    if (r === 1) return t;
    const S = dim(b, t, 1);
    const shape4 = b.op('Concat', [b.ints([KV, r]), b.op('Unsqueeze', [S, b.ints([0])]), b.ints([hd])], { axis: 0 });
    return b.op('Reshape', [b.op('Expand', [b.op('Unsqueeze', [t, b.ints([1])]), shape4]), b.ints([H, -1, hd])]);
  };
  const proj = (x: string, name: string, bias: boolean): string => {
    const y = linear(b, x, w(`${name}.weight`));
    return bias ? b.op('Add', [y, w(`${name}.bias`)]) : y;
  };

  let x = b.op('Gather', [w('embed_tokens.weight'), ids], { axis: 0 });
  for (let l = 0; l < c.nLayer; l++) {
    const p = `layers.${l}.`;
    // attention
    const h1 = rmsNorm(b, x, w(`${p}input_layernorm.weight`), c.rmsNormEps);
    const q = applyRope(toHeads(proj(h1, `${p}self_attn.q_proj`, c.qkvBias), H)); // [H, T, hd]
    const k = applyRope(toHeads(proj(h1, `${p}self_attn.k_proj`, c.qkvBias), KV)); // [KV, T, hd]
    const v = toHeads(proj(h1, `${p}self_attn.v_proj`, c.qkvBias), KV);
    const presentK = b.op('Concat', [past[l]!.k, k], { axis: 1 });
    const presentV = b.op('Concat', [past[l]!.v, v], { axis: 1 });
    b.output(presentK, MONOLITHIC_IO.presentKey(l), 'float32', [KV, 'total', hd]);
    b.output(presentV, MONOLITHIC_IO.presentValue(l), 'float32', [KV, 'total', hd]);
    const keys = repeatKv(presentK), values = repeatKv(presentV); // [H, P+T, hd]
    const scores = b.op('Div', [b.op('MatMul', [q, b.op('Transpose', [keys], { perm: [0, 2, 1] })]), b.float(Math.sqrt(hd))]); // [H, T, P+T]
    const probs = b.op('Softmax', [b.op('Where', [allowed, scores, b.float(MASKED)])], { axis: -1 });
    const context = b.op('MatMul', [probs, values]); // [H, T, hd]
    const merged = b.op('Reshape', [b.op('Transpose', [context], { perm: [1, 0, 2] }), b.ints([0, H * hd])]);
    x = b.op('Add', [x, linear(b, merged, w(`${p}self_attn.o_proj.weight`))]);
    // MLP
    const h2 = rmsNorm(b, x, w(`${p}post_attention_layernorm.weight`), c.rmsNormEps);
    x = b.op('Add', [x, swiglu(b, h2, w(`${p}mlp.gate_proj.weight`), w(`${p}mlp.up_proj.weight`), w(`${p}mlp.down_proj.weight`))]);
  }
  const hf = rmsNorm(b, x, w('norm.weight'), c.rmsNormEps);
  const logits = ckpt.quantized
    ? lmHeadLogits(b, ckpt, hf)
    : b.op('Gemm', [hf, c.tieWordEmbeddings ? 'embed_tokens.weight' : b.initializer('lm_head.weight', [c.vocabSize, E], lmHead(ckpt))], { transB: 1 });
  b.output(logits, MONOLITHIC_IO.logits, 'float32', ['T', c.vocabSize]);
  return b.toBytes();
}
