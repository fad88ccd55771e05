// The whole model as the one ONNX graph that transformers.js (@huggingface/transformers) runs for
// a decoder-only LM with a KV cache: the layout of Hugging Face Optimum's "text-generation-with-past"
// export, which transformers.js loads from <model>/onnx/model.onnx. Written with the same builders
// and weights as the monolithic graph, so the peer runs the same model at the same precision.
//
// What transformers.js feeds and reads (src/models/modeling_utils.js, decoder_forward; configs.js,
// getCacheNames), batch-major like torch:
//   input_ids        int64 [batch_size, sequence_length]
//   attention_mask   int64 [batch_size, total_sequence_length]   (1 = attend; left padding is 0)
//   position_ids     int64 [batch_size, sequence_length]         (cumsum(attention_mask) - 1, 1 under padding)
//   past_key_values.{l}.key / .value  float32 [batch_size, kv_heads, past_sequence_length, head_dim]
// -> logits          float32 [batch_size, sequence_length, vocab]
//    present.{l}.key / .value  float32 [batch_size, kv_heads, total_sequence_length, head_dim]
// The first call gets empty caches made from the inputs' declared shapes: every symbolic dim but
// "batch_size" becomes 0, so kv_heads and head_dim must be numbers here.
import { attentionScale, lmHead, ropeInvFreq, type Checkpoint, type GPT2Config, type LlamaConfig } from '@splitwise/core';
import { GraphBuilder } from './graph-builder.ts';
import { activation, dim, layerNorm } from './blocks.ts';
import { MASKED, rmsNorm, swiglu } from './llama/blocks.ts';
import { checkMonolithicSize, checkpointInitializers } from './monolithic-graph.ts';

/** The names transformers.js uses for the decoder's inputs and outputs. */
export const TRANSFORMERS_JS_IO = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  positionIds: 'position_ids',
  logits: 'logits',
  pastKey: (l: number) => `past_key_values.${l}.key`,
  pastValue: (l: number) => `past_key_values.${l}.value`,
  presentKey: (l: number) => `present.${l}.key`,
  presentValue: (l: number) => `present.${l}.value`,
} as const;

/** Where transformers.js looks for the fp32 graph inside a model folder (dtype "fp32": no suffix). */
export const TRANSFORMERS_JS_MODEL_FILE = 'onnx/model.onnx';

const IO = TRANSFORMERS_JS_IO;
const FLOAT = 1; // TensorProto.DataType.FLOAT
const BOOL = 9; // TensorProto.DataType.BOOL

/**
 * The decoder graph transformers.js runs, for a GPT-2 or LLaMA-family checkpoint (engine layout,
 * as loadModelFromDir gives it). Weights are fp32 initializers under the checkpoint's names.
 */
export function buildTransformersJsDecoder(ckpt: Checkpoint): Uint8Array {
  const c = ckpt.config;
  checkMonolithicSize(ckpt);
  const b = new GraphBuilder(c.family === 'llama' ? (c as LlamaConfig).modelType : 'gpt2'), w = checkpointInitializers(b, ckpt);
  const KV = c.nKvHead, H = c.nHead, hd = c.headDim, r = H / KV;

  const ids = b.input(IO.inputIds, 'int64', ['batch_size', 'sequence_length']);
  const mask = b.input(IO.attentionMask, 'int64', ['batch_size', 'total_sequence_length']);
  const positions = b.input(IO.positionIds, 'int64', ['batch_size', 'sequence_length']);
  const past = Array.from({ length: c.nLayer }, (_, l) => ({
    k: b.input(IO.pastKey(l), 'float32', ['batch_size', KV, 'past_sequence_length', hd]),
    v: b.input(IO.pastValue(l), 'float32', ['batch_size', KV, 'past_sequence_length', hd]),
  }));

  // Which keys each new query may see: cache index s <= P + t (causal) and attention_mask[b, s] = 1.
  // [B, 1, 1, T, S], to broadcast over the grouped scores [B, KV, r, T, S].
  const T = dim(b, ids, 1), S = dim(b, mask, 1), P = b.op('Sub', [S, T]), S1 = b.op('Unsqueeze', [S, b.ints([0])]);
  const kIndex = b.op('Unsqueeze', [b.op('Range', [b.int(0), S, b.int(1)]), b.ints([0])]); // [1, S]
  const qIndex = b.op('Unsqueeze', [b.op('Range', [P, S, b.int(1)]), b.ints([1])]); // [T, 1]
  const causal = b.op('LessOrEqual', [kIndex, qIndex]); // [T, S]
  const padding = b.op('Unsqueeze', [b.op('Cast', [mask], { to: BOOL }), b.ints([1])]); // [B, 1, S]
  const allowed = b.op('Unsqueeze', [b.op('And', [causal, padding]), b.ints([1, 2])]); // [B, 1, 1, T, S]

  // [B, T, n*hd] -> [B, n, T, hd]
  const toHeads = (t: string, n: number): string => b.op('Transpose', [b.op('Reshape', [t, b.ints([0, 0, n, hd])])], { perm: [0, 2, 1, 3] });
  /**
   * Grouped-query attention without copying the cache r times: the r query heads that share a
   * key/value head (heads kv*r .. kv*r+r-1, as transformers' repeat_kv pairs them) are stacked
   * along the query axis. q [B, H, T, hd], present k/v [B, KV, S, hd] -> context [B, T, H*hd].
   */
  const attention = (q: string, k: string, v: string, scale: number): string => {
    const qGrouped = b.op('Reshape', [q, b.ints([0, KV, -1, hd])]); // [B, KV, r*T, hd]
    const scores = b.op('Mul', [b.op('MatMul', [qGrouped, b.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), b.float(scale)]); // [B, KV, r*T, S]
    const scores5 = b.op('Reshape', [scores, b.op('Concat', [b.ints([0, KV, r, -1]), S1], { axis: 0 })]); // [B, KV, r, T, S]
    const probs = b.op('Softmax', [b.op('Where', [allowed, scores5, b.float(MASKED)])], { axis: -1 });
    const context = b.op('MatMul', [b.op('Reshape', [probs, b.op('Concat', [b.ints([0, KV, -1]), S1], { axis: 0 })]), v]); // [B, KV, r*T, hd]
    const heads = b.op('Reshape', [context, b.ints([0, H, -1, hd])]); // [B, H, T, hd]
    return b.op('Reshape', [b.op('Transpose', [heads], { perm: [0, 2, 1, 3] }), b.ints([0, 0, H * hd])]);
  };
  const withCache = (l: number, k: string, v: string): { k: string; v: string } => {
    const presentK = b.op('Concat', [past[l]!.k, k], { axis: 2 });
    const presentV = b.op('Concat', [past[l]!.v, v], { axis: 2 });
    b.output(presentK, IO.presentKey(l), 'float32', ['batch_size', KV, 'total_sequence_length', hd]);
    b.output(presentV, IO.presentValue(l), 'float32', ['batch_size', KV, 'total_sequence_length', hd]);
    return { k: presentK, v: presentV };
  };

  let hidden: string, embedding: string;
  if (c.family === 'llama') {
    const lc = c as LlamaConfig, half = hd / 2;
    // RoPE at the fed positions, transformers' rotate_half form: x * cos(emb) + rotate_half(x) * sin(emb)
    const inv = Float32Array.from(ropeInvFreq(lc));
    const embFreq = b.initializer('rope.emb_freq', [hd], Float32Array.from([...inv, ...inv]));
    const angles = b.op('Mul', [b.op('Unsqueeze', [b.op('Cast', [positions], { to: FLOAT }), b.ints([-1])]), embFreq]); // [B, T, hd]
    const cos = b.op('Unsqueeze', [b.op('Cos', [angles]), b.ints([1])]), sin = b.op('Unsqueeze', [b.op('Sin', [angles]), b.ints([1])]); // [B, 1, T, hd]
    const rotateHalf = (t: string): string => {
      const lo = b.op('Slice', [t, b.ints([0]), b.ints([half]), b.ints([-1])]);
      const hi = b.op('Slice', [t, b.ints([half]), b.ints([hd]), b.ints([-1])]);
      return b.op('Concat', [b.op('Neg', [hi]), lo], { axis: -1 });
    };
    const rope = (t: string): string => b.op('Add', [b.op('Mul', [t, cos]), b.op('Mul', [rotateHalf(t), sin])]);
    const proj = (x: string, name: string): string => {
      const y = b.op('MatMul', [x, w(`${name}.weight`)]);
      return lc.qkvBias ? b.op('Add', [y, w(`${name}.bias`)]) : y;
    };

    embedding = 'embed_tokens.weight';
    let x = b.op('Gather', [w(embedding), ids], { axis: 0 }); // [B, T, E]
    for (let l = 0; l < c.nLayer; l++) {
      const p = `layers.${l}.`;
      const h1 = rmsNorm(b, x, w(`${p}input_layernorm.weight`), lc.rmsNormEps);
      const q = rope(toHeads(proj(h1, `${p}self_attn.q_proj`), H));
      const kv = withCache(l, rope(toHeads(proj(h1, `${p}self_attn.k_proj`), KV)), toHeads(proj(h1, `${p}self_attn.v_proj`), KV));
      x = b.op('Add', [x, b.op('MatMul', [attention(q, kv.k, kv.v, 1 / Math.sqrt(hd)), w(`${p}self_attn.o_proj.weight`)])]);
      const h2 = rmsNorm(b, x, w(`${p}post_attention_layernorm.weight`), lc.rmsNormEps);
      x = b.op('Add', [x, swiglu(b, h2, w(`${p}mlp.gate_proj.weight`), w(`${p}mlp.up_proj.weight`), w(`${p}mlp.down_proj.weight`))]);
    }
    hidden = rmsNorm(b, x, w('norm.weight'), lc.rmsNormEps);
  } else {
    const gc = c as GPT2Config, E = gc.nEmbd;
    embedding = 'wte.weight';
    let x = b.op('Add', [b.op('Gather', [w(embedding), ids], { axis: 0 }), b.op('Gather', [w('wpe.weight'), positions], { axis: 0 })]);
    for (let l = 0; l < c.nLayer; l++) {
      const p = `h.${l}.`;
      const h1 = layerNorm(b, x, w(`${p}ln_1.weight`), w(`${p}ln_1.bias`), gc.layerNormEpsilon);
      const qkv = b.op('Add', [b.op('MatMul', [h1, w(`${p}attn.c_attn.weight`)]), w(`${p}attn.c_attn.bias`)]);
      const [q, k, v] = b.ops('Split', [qkv, b.ints([E, E, E])], { axis: -1 }, 3) as [string, string, string];
      const kv = withCache(l, toHeads(k, KV), toHeads(v, KV));
      const merged = attention(toHeads(q, H), kv.k, kv.v, attentionScale(gc, l));
      x = b.op('Add', [x, b.op('Add', [b.op('MatMul', [merged, w(`${p}attn.c_proj.weight`)]), w(`${p}attn.c_proj.bias`)])]);
      const h2 = layerNorm(b, x, w(`${p}ln_2.weight`), w(`${p}ln_2.bias`), gc.layerNormEpsilon);
      const a = activation(b, b.op('Add', [b.op('MatMul', [h2, w(`${p}mlp.c_fc.weight`)]), w(`${p}mlp.c_fc.bias`)]), gc.activation);
      x = b.op('Add', [x, b.op('Add', [b.op('MatMul', [a, w(`${p}mlp.c_proj.weight`)]), w(`${p}mlp.c_proj.bias`)])]);
    }
    hidden = layerNorm(b, x, w('ln_f.weight'), w('ln_f.bias'), gc.layerNormEpsilon);
  }

  // logits for every fed position (transformers.js slices the last one): Gemm on [B*T, E] reads
  // the [vocab, E] head as it is stored, where MatMul would need a transposed copy of it
  const head = c.tieWordEmbeddings ? embedding : b.initializer('lm_head.weight', [c.vocabSize, c.nEmbd], lmHead(ckpt));
  const flat = b.op('Gemm', [b.op('Reshape', [hidden, b.ints([-1, c.nEmbd])]), head], { transB: 1 }); // [B*T, vocab]
  const logitsShape = b.op('Concat', [b.op('Shape', [ids]), b.ints([c.vocabSize])], { axis: 0 });
  b.output(b.op('Reshape', [flat, logitsShape]), IO.logits, 'float32', ['batch_size', 'sequence_length', c.vocabSize]);
  return b.toBytes();
}
