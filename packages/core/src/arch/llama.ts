// LLaMA, as transformers' LlamaForCausalLM defines it (and Qwen2, which adds biases to q, k, v):
//
//   x = embed_tokens[ids]
//   each layer:  x = x + o_proj(attn(rope(q), rope(k), v))   over rms(x) * input_layernorm
//                x = x + down_proj(silu(gate_proj h) * up_proj h),  h = rms(x) * post_attention_layernorm
//   logits = (rms(x) * norm) @ lm_head^T       (lm_head = embed_tokens when tied)
//
// Grouped-query attention: query head h reads key/value head floor(h / r), r = heads / kv heads
// (transformers' repeat_kv). So the attention partition unit is a KV group: one KV head with its r
// query heads; its KV cache lives with it. RoPE is HF's rotate_half layout (the two halves of each
// head rotate together) with rope_theta from the config; positions travel with every call.
// nn.Linear stores [out, in]; the loader transposes to the engine's [in, out].
import { z } from 'zod';
import { InvalidConfigError } from '../errors.ts';
import type { Checkpoint, Float32Tensor } from '../model/checkpoint.ts';
import { f32 } from '../executor/runtime.ts';
import type { ModelGraph } from '../graph/model-graph.ts';
import { F32_BYTES as F32, subBlockCost, type BaseConfig, type Feeds, type ModelFamily, type SubBlockCost, type TensorRole, type WeightBinding } from './family.ts';
import { gatherVector, unitRanges } from './gather.ts';
import { checkQuantizedLayout, matrixColumns, matrixRows } from './matrix-feeds.ts';
import { validateBaseConfig, zodIssues } from './gpt2.ts';

export interface LlamaConfig extends BaseConfig {
  family: 'llama';
  /** HF model_type: "llama", or "qwen2" (q/k/v biases). */
  modelType: 'llama' | 'qwen2' | 'mistral';
  rmsNormEps: number;
  ropeTheta: number;
  /** Biases on q, k, v (Qwen2; LLaMA's attention_bias). */
  qkvBias: boolean;
}

const positiveInt = z.number().int().positive();
const HfLlamaConfigSchema = z.looseObject({
  model_type: z.enum(['llama', 'qwen2', 'mistral']),
  hidden_size: positiveInt,
  intermediate_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt.nullish(),
  head_dim: positiveInt.nullish(),
  vocab_size: positiveInt,
  max_position_embeddings: positiveInt,
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().default(10000),
  rope_scaling: z.unknown().nullish(),
  hidden_act: z.string().default('silu'),
  attention_bias: z.boolean().default(false),
  mlp_bias: z.boolean().default(false),
  tie_word_embeddings: z.boolean().default(false),
  bos_token_id: z.number().int().nonnegative().nullish(),
  eos_token_id: z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative()).min(1)]).nullish(),
  sliding_window: z.unknown().nullish(),
  use_sliding_window: z.boolean().optional(),
});

function parseHfConfig(json: Record<string, unknown>): LlamaConfig {
  const parsed = HfLlamaConfigSchema.safeParse(json);
  if (!parsed.success) throw new InvalidConfigError(`config.json is not a LLaMA-family config: ${zodIssues(parsed.error)}`);
  const c = parsed.data;
  if (c.hidden_act !== 'silu') throw new InvalidConfigError(`hidden_act "${c.hidden_act}" is not supported (LLaMA uses "silu")`);
  if (c.mlp_bias) throw new InvalidConfigError('mlp_bias=true is not supported');
  if (c.rope_scaling) throw new InvalidConfigError('rope_scaling is not supported: only plain RoPE with rope_theta');
  if (c.use_sliding_window) throw new InvalidConfigError('sliding-window attention is not supported');
  const nKv = c.num_key_value_heads ?? c.num_attention_heads;
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  if (!Number.isInteger(headDim)) {
    throw new InvalidConfigError(`hidden_size (${c.hidden_size}) must be divisible by num_attention_heads (${c.num_attention_heads}), or head_dim given`);
  }
  if (headDim % 2 !== 0) throw new InvalidConfigError(`head_dim ${headDim} must be even for rotary embeddings`);
  const eos = Array.isArray(c.eos_token_id) ? c.eos_token_id[0]! : c.eos_token_id;
  const config: LlamaConfig = {
    family: 'llama',
    modelType: c.model_type,
    nLayer: c.num_hidden_layers,
    nEmbd: c.hidden_size,
    nHead: c.num_attention_heads,
    nKvHead: nKv,
    headDim,
    nInner: c.intermediate_size,
    nPositions: c.max_position_embeddings,
    vocabSize: c.vocab_size,
    rmsNormEps: c.rms_norm_eps,
    ropeTheta: c.rope_theta,
    // Qwen2 always has q/k/v biases; LLaMA only with attention_bias (which then also biases o_proj: not supported)
    qkvBias: c.model_type === 'qwen2',
    tieWordEmbeddings: c.tie_word_embeddings,
    bosTokenId: c.bos_token_id ?? 1,
    eosTokenId: eos ?? 2,
  };
  if (c.attention_bias && c.model_type !== 'qwen2') {
    throw new InvalidConfigError('attention_bias=true (biases on q, k, v and o) is not supported for model_type "llama"');
  }
  validateBaseConfig(config);
  return config;
}

function toHfConfig(c: LlamaConfig): Record<string, unknown> {
  return {
    architectures: [c.modelType === 'qwen2' ? 'Qwen2ForCausalLM' : c.modelType === 'mistral' ? 'MistralForCausalLM' : 'LlamaForCausalLM'],
    model_type: c.modelType,
    hidden_size: c.nEmbd,
    intermediate_size: c.nInner,
    num_hidden_layers: c.nLayer,
    num_attention_heads: c.nHead,
    num_key_value_heads: c.nKvHead,
    head_dim: c.headDim,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.nPositions,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: null,
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    tie_word_embeddings: c.tieWordEmbeddings,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    initializer_range: 0.02,
    torch_dtype: 'float32',
    use_cache: true,
  };
}

const PREFIX = 'model.';

function tensors(c: LlamaConfig): TensorRole[] {
  const E = c.nEmbd, I = c.nInner, Q = c.nHead * c.headDim, KV = c.nKvHead * c.headDim;
  const t = (name: string, storedShape: number[], transposed = false): TensorRole => ({ name, storedShape, transposed });
  const out = [t('embed_tokens.weight', [c.vocabSize, E])];
  for (let l = 0; l < c.nLayer; l++) {
    const p = `layers.${l}.`;
    out.push(
      t(`${p}input_layernorm.weight`, [E]),
      t(`${p}self_attn.q_proj.weight`, [Q, E], true),
      t(`${p}self_attn.k_proj.weight`, [KV, E], true),
      t(`${p}self_attn.v_proj.weight`, [KV, E], true),
    );
    if (c.qkvBias) out.push(t(`${p}self_attn.q_proj.bias`, [Q]), t(`${p}self_attn.k_proj.bias`, [KV]), t(`${p}self_attn.v_proj.bias`, [KV]));
    out.push(
      t(`${p}self_attn.o_proj.weight`, [E, Q], true),
      t(`${p}post_attention_layernorm.weight`, [E]),
      t(`${p}mlp.gate_proj.weight`, [I, E], true),
      t(`${p}mlp.up_proj.weight`, [I, E], true),
      t(`${p}mlp.down_proj.weight`, [E, I], true),
    );
  }
  out.push(t('norm.weight', [E]));
  // the LM head keeps nn.Linear's [vocab, E]: it is applied as Gemm(transB), like a tied embedding
  if (!c.tieWordEmbeddings) out.push(t('lm_head.weight', [c.vocabSize, E]));
  return out;
}

/** HF's rotary frequencies: inv_freq[i] = theta^(-2i / head_dim), i < head_dim / 2. */
export function ropeInvFreq(c: LlamaConfig): Float64Array {
  const half = c.headDim / 2;
  return Float64Array.from({ length: half }, (_, i) => 1 / c.ropeTheta ** ((2 * i) / c.headDim));
}

const need = (ckpt: Checkpoint, name: string): Float32Array => {
  const t = ckpt.tensors.get(name);
  if (!t) throw new Error(`checkpoint has no tensor "${name}"`);
  return t.data;
};

/** The split graphs' weight inputs (onnx-graphs/src/llama). */
function bind(ckpt: Checkpoint<LlamaConfig>, graph: ModelGraph): WeightBinding {
  checkQuantizedLayout(ckpt, graph.ffnChunks);
  const c = ckpt.config, E = c.nEmbd, hd = c.headDim, I = c.nInner, r = c.nHead / c.nKvHead;
  const Q = c.nHead * hd, KV = c.nKvHead * hd;
  const t = (l: number, n: string): Float32Array => need(ckpt, `layers.${l}.${n}`);
  const kv = (l: number, units: readonly number[]): Feeds => {
    const rs = unitRanges(units, hd), m = units.length * hd;
    const f: Feeds = {
      ln_g: f32(t(l, 'input_layernorm.weight'), [E]),
      ...matrixColumns(ckpt, 'w_k', `layers.${l}.self_attn.k_proj.weight`, E, KV, rs),
      ...matrixColumns(ckpt, 'w_v', `layers.${l}.self_attn.v_proj.weight`, E, KV, rs),
    };
    if (c.qkvBias) {
      f.b_k = f32(gatherVector(t(l, 'self_attn.k_proj.bias'), rs), [m]);
      f.b_v = f32(gatherVector(t(l, 'self_attn.v_proj.bias'), rs), [m]);
    }
    return f;
  };
  const attn = (l: number, units: readonly number[]): Feeds => {
    const qs = unitRanges(units, r * hd), mq = units.length * r * hd;
    const f: Feeds = {
      ...kv(l, units),
      ...matrixColumns(ckpt, 'w_q', `layers.${l}.self_attn.q_proj.weight`, E, Q, qs),
      ...matrixRows(ckpt, 'w_o', `layers.${l}.self_attn.o_proj.weight`, Q, E, qs),
    };
    if (c.qkvBias) f.b_q = f32(gatherVector(t(l, 'self_attn.q_proj.bias'), qs), [mq]);
    return f;
  };
  const ffn = (l: number, chunks: readonly number[]): Feeds => {
    const rs = chunks.map((k) => graph.layers[l]!.ffnChunks[k]!);
    return {
      ln_g: f32(t(l, 'post_attention_layernorm.weight'), [E]),
      ...matrixColumns(ckpt, 'w_gate', `layers.${l}.mlp.gate_proj.weight`, E, I, rs),
      ...matrixColumns(ckpt, 'w_up', `layers.${l}.mlp.up_proj.weight`, E, I, rs),
      ...matrixRows(ckpt, 'w_down', `layers.${l}.mlp.down_proj.weight`, I, E, rs),
    };
  };
  const all = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  const prefixed = (prefix: string, f: Feeds): Feeds => Object.fromEntries(Object.entries(f).map(([k, v]) => [prefix + k, v]));
  return {
    attn,
    kv,
    ffn,
    block: (l) => ({ ...prefixed('attn.', attn(l, all(c.nKvHead))), ...prefixed('mlp.', ffn(l, all(graph.ffnChunks))) }),
    positions: (start, T) => ({
      positions: { dtype: 'int64', dims: [T], data: BigInt64Array.from({ length: T }, (_, i) => BigInt(start + i)) },
    }),
    outBias: () => undefined,
  };
}

export const llamaFamily: ModelFamily<LlamaConfig> = {
  name: 'llama',
  modelTypes: ['llama', 'qwen2', 'mistral'],
  parseHfConfig,
  toHfConfig,
  tensors,
  layerPrefix: 'layers',
  embeddingTensor: 'embed_tokens.weight',
  hfKey: (name) => (name === 'lm_head.weight' ? name : PREFIX + name),
  canonicalName: (key) => {
    const name = key.startsWith(PREFIX) ? key.slice(PREFIX.length) : key;
    return /\.rotary_emb\.inv_freq$/.test(name) ? null : name; // a buffer older checkpoints carry
  },
  attnUnits: (c) => c.nKvHead,
  queryHeadsPerUnit: (c) => c.nHead / c.nKvHead,
  projections: (c, l) => {
    const E = c.nEmbd, Q = c.nHead * c.headDim, KV = c.nKvHead * c.headDim, p = `layers.${l}.`;
    return [
      { name: `${p}self_attn.q_proj.weight`, K: E, N: Q, rows: 'whole' },
      { name: `${p}self_attn.k_proj.weight`, K: E, N: KV, rows: 'whole' },
      { name: `${p}self_attn.v_proj.weight`, K: E, N: KV, rows: 'whole' },
      { name: `${p}self_attn.o_proj.weight`, K: Q, N: E, rows: 'attn-units' },
      { name: `${p}mlp.gate_proj.weight`, K: E, N: c.nInner, rows: 'whole' },
      { name: `${p}mlp.up_proj.weight`, K: E, N: c.nInner, rows: 'whole' },
      { name: `${p}mlp.down_proj.weight`, K: c.nInner, N: E, rows: 'ffn-chunks' },
    ];
  },
  attnUnitCost: (c): SubBlockCost => {
    const E = c.nEmbd, hd = c.headDim, r = c.nHead / c.nKvHead, b = c.qkvBias ? 1 : 0;
    // r query heads' q columns, one k and one v head, r heads' rows of o_proj (+ q/k/v biases);
    // per new row: projections, RoPE on r + 1 heads, scores and context of r heads over P + n keys,
    // o_proj, softmax
    return subBlockCost(
      ((2 * r + 2) * E * hd + b * (r + 2) * hd) * F32,
      2 * hd * F32,
      (n, P) => 2 * n * E * (r + 2) * hd + 6 * n * (r + 1) * hd + 2 * 2 * r * n * (P + n) * hd + 2 * n * r * hd * E + 5 * r * n * (P + n),
    );
  },
  // gate, up and down projections; silu and the product
  ffnChunkCost: (c, w): SubBlockCost => subBlockCost(3 * c.nEmbd * w * F32, 0, (n) => n * (6 * c.nEmbd * w + 6 * w)),
  // the embedding is a lookup; the final RMSNorm and LM head run on the last position only
  edgeFixedCost: (c): SubBlockCost =>
    subBlockCost((c.vocabSize * c.nEmbd + c.nEmbd + (c.tieWordEmbeddings ? 0 : c.vocabSize * c.nEmbd)) * F32, 0, (n) => n * c.nEmbd + 4 * c.nEmbd + 2 * c.nEmbd * c.vocabSize),
  // input_layernorm and post_attention_layernorm weights
  layerSharedBytes: (c) => 2 * c.nEmbd * F32,
  parameterCount: (c) => {
    const E = c.nEmbd, Q = c.nHead * c.headDim, KV = c.nKvHead * c.headDim;
    const perLayer = 2 * E + E * (Q + 2 * KV) + (c.qkvBias ? Q + 2 * KV : 0) + Q * E + 3 * E * c.nInner;
    return c.vocabSize * E + c.nLayer * perLayer + E + (c.tieWordEmbeddings ? 0 : c.vocabSize * E);
  },
  embed: (tensors: Map<string, Float32Tensor>, c, ids) => {
    const E = c.nEmbd, wte = tensors.get('embed_tokens.weight')!.data, x = new Float32Array(ids.length * E);
    ids.forEach((id, t) => x.set(wte.subarray(id * E, (id + 1) * E), t * E));
    return x;
  },
  bind,
};

/** Build a LLaMA config from the fields that differ from LLaMA 2's defaults. */
export function llamaConfig(o: Partial<LlamaConfig> & Pick<LlamaConfig, 'nLayer' | 'nEmbd' | 'nHead' | 'nInner' | 'vocabSize'>): LlamaConfig {
  const c: LlamaConfig = {
    family: 'llama',
    modelType: 'llama',
    nKvHead: o.nHead,
    headDim: o.nEmbd / o.nHead,
    nPositions: 2048,
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    qkvBias: false,
    tieWordEmbeddings: false,
    bosTokenId: 1,
    eosTokenId: 2,
    ...o,
  };
  validateBaseConfig(c);
  return c;
}

/**
 * Test shapes (`llama-tiny`: GQA with 2 query heads per KV head, an intermediate size that no
 * chunk count divides, an untied head; `qwen2-tiny`: q/k/v biases), the shipped story model's
 * shape, and paper-scale shapes for the cost model and the policy (random weights).
 */
export const LLAMA_PRESETS = {
  'llama-tiny': llamaConfig({ nLayer: 3, nEmbd: 64, nHead: 8, nKvHead: 4, nInner: 150, vocabSize: 300, nPositions: 128, ropeTheta: 500 }),
  'qwen2-tiny': llamaConfig({ modelType: 'qwen2', nLayer: 2, nEmbd: 48, nHead: 6, nKvHead: 2, nInner: 100, vocabSize: 300, nPositions: 128, qkvBias: true, tieWordEmbeddings: true, rmsNormEps: 1e-6, ropeTheta: 1e6 }),
  stories260K: llamaConfig({ nLayer: 5, nEmbd: 64, nHead: 8, nKvHead: 4, nInner: 172, vocabSize: 512, nPositions: 512, tieWordEmbeddings: true }),
  'smollm-135m': llamaConfig({ nLayer: 30, nEmbd: 576, nHead: 9, nKvHead: 3, nInner: 1536, vocabSize: 49152, nPositions: 2048, tieWordEmbeddings: true, bosTokenId: 0, eosTokenId: 0 }),
  'qwen2-0.5b': llamaConfig({ modelType: 'qwen2', nLayer: 24, nEmbd: 896, nHead: 14, nKvHead: 2, nInner: 4864, vocabSize: 151936, nPositions: 32768, qkvBias: true, tieWordEmbeddings: true, rmsNormEps: 1e-6, ropeTheta: 1e6, bosTokenId: 151643, eosTokenId: 151643 }),
  'tinyllama-1.1b': llamaConfig({ nLayer: 22, nEmbd: 2048, nHead: 32, nKvHead: 4, nInner: 5632, vocabSize: 32000, nPositions: 2048 }),
  'llama2-7b': llamaConfig({ nLayer: 32, nEmbd: 4096, nHead: 32, nKvHead: 32, nInner: 11008, vocabSize: 32000, nPositions: 4096 }),
} satisfies Record<string, LlamaConfig>;
