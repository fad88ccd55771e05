// The whole model as one graph with a KV cache, weights as initializers in Hugging Face's own
// layouts: the reference the split engine is checked against. Built the way transformers' ONNX
// export computes GPT-2 (split q|k|v, reshape to heads), independently of the split graphs'
// head-major subsets, so agreement between the two means something.
import { MONOLITHIC_IO, attentionScale, headDim, quantizedFeeds, readQuantizedFeed, type Checkpoint, type Gpt2Checkpoint, type LlamaConfig } from '@splitwise/core';
import { GraphBuilder } from './graph-builder.ts';
import { activation, causalAttention, dim, layerNorm } from './blocks.ts';
import { buildLlamaMonolithicGraph } from './llama/monolithic-graph.ts';
import { linear, quantizedInitializer } from './linear.ts';
import { lmHeadLogits } from './split-graphs.ts';

/** Protobuf cannot hold a message over 2 GiB; larger models run through the split graphs. */
export const MONOLITHIC_MAX_BYTES = 2 ** 31 - 2 ** 24;

/** Refuse a checkpoint whose weights a single ONNX protobuf cannot hold. */
export function checkMonolithicSize(ckpt: Checkpoint): void {
  const weightBytes = [...ckpt.tensors.values()].reduce((a, t) => a + t.data.byteLength, 0);
  if (weightBytes > MONOLITHIC_MAX_BYTES) {
    throw new RangeError(`monolithic graph would hold ${weightBytes} bytes of weights; ONNX protobuf is limited to 2 GiB`);
  }
}

/**
 * A checkpoint tensor as an initializer of `b`, under its own name and layout (the monolithic
 * graphs' weights); a matrix the checkpoint holds quantized becomes MatMulNBits' initializers,
 * which linear() applies.
 */
export const checkpointInitializers = (b: GraphBuilder, ckpt: Checkpoint) => (name: string): string => {
  const q = ckpt.quantized?.matrices.get(name);
  if (q) return quantizedInitializer(b, name, readQuantizedFeed(quantizedFeeds(name, q), name)!);
  const t = ckpt.tensors.get(name);
  if (!t) throw new Error(`checkpoint has no tensor "${name}"`);
  return b.initializer(name, t.shape, t.data);
};

export function buildMonolithicGraph(ckpt: Gpt2Checkpoint): Uint8Array {
  if (ckpt.config.family === 'llama') return buildLlamaMonolithicGraph(ckpt as Checkpoint<LlamaConfig>);
  const c = ckpt.config, E = c.nEmbd, H = c.nHead, hd = headDim(c);
  checkMonolithicSize(ckpt);
  const b = new GraphBuilder('gpt2'), w = checkpointInitializers(b, ckpt);
  b.int8Activations = ckpt.quantized?.activations === 'int8';

  const ids = b.input(MONOLITHIC_IO.inputIds, 'int64', ['T']);
  const past = Array.from({ length: c.nLayer }, (_, l) => ({
    k: b.input(MONOLITHIC_IO.pastKey(l), 'float32', [H, 'past', hd]),
    v: b.input(MONOLITHIC_IO.pastValue(l), 'float32', [H, 'past', hd]),
  }));

  // x = wte[ids] + wpe[P .. P+T)
  const P = dim(b, past[0]!.k, 1), T = dim(b, ids, 0);
  const positions = b.op('Range', [P, b.op('Add', [P, T]), b.int(1)]);
  let x = b.op('Add', [b.op('Gather', [w('wte.weight'), ids], { axis: 0 }), b.op('Gather', [w('wpe.weight'), positions], { axis: 0 })]);

  const toHeads = (t: string): string => b.op('Transpose', [b.op('Reshape', [t, b.ints([0, H, hd])])], { perm: [1, 0, 2] }); // [H, T, hd]
  for (let l = 0; l < c.nLayer; l++) {
    const p = `h.${l}.`;
    // attention
    const h1 = layerNorm(b, x, w(`${p}ln_1.weight`), w(`${p}ln_1.bias`), c.layerNormEpsilon);
    const qkv = b.op('Add', [linear(b, h1, w(`${p}attn.c_attn.weight`)), w(`${p}attn.c_attn.bias`)]);
    const [q, k, v] = b.ops('Split', [qkv, b.ints([E, E, E])], { axis: 1 }, 3) as [string, string, string];
    const att = causalAttention(b, toHeads(q), toHeads(k), toHeads(v), past[l]!.k, past[l]!.v, b.float(attentionScale(c, l)));
    const merged = b.op('Reshape', [b.op('Transpose', [att.context], { perm: [1, 0, 2] }), b.ints([0, E])]);
    x = b.op('Add', [x, b.op('Add', [linear(b, merged, w(`${p}attn.c_proj.weight`)), w(`${p}attn.c_proj.bias`)])]);
    b.output(att.presentK, MONOLITHIC_IO.presentKey(l), 'float32', [H, 'total', hd]);
    b.output(att.presentV, MONOLITHIC_IO.presentValue(l), 'float32', [H, 'total', hd]);
    // MLP
    const h2 = layerNorm(b, x, w(`${p}ln_2.weight`), w(`${p}ln_2.bias`), c.layerNormEpsilon);
    const a = activation(b, b.op('Add', [linear(b, h2, w(`${p}mlp.c_fc.weight`)), w(`${p}mlp.c_fc.bias`)]), c.activation);
    x = b.op('Add', [x, b.op('Add', [linear(b, a, w(`${p}mlp.c_proj.weight`)), w(`${p}mlp.c_proj.bias`)])]);
  }
  const hf = layerNorm(b, x, w('ln_f.weight'), w('ln_f.bias'), c.layerNormEpsilon);
  const logits = ckpt.quantized ? lmHeadLogits(b, ckpt, hf) : b.op('Gemm', [hf, c.tieWordEmbeddings ? 'wte.weight' : w('lm_head.weight')], { transB: 1 });
  b.output(logits, MONOLITHIC_IO.logits, 'float32', ['T', c.vocabSize]);
  return b.toBytes();
}
