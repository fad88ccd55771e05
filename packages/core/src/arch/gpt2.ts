// GPT-2, as transformers' GPT2LMHeadModel defines it:
//
//   x = wte[ids] + wpe[pos]
//   each layer:  x = x + c_proj(attn(ln_1 x)) + b_o;   x = x + mlp(ln_2 x) + b_proj
//   logits = ln_f(x) @ wte^T            (or an untied lm_head)
//
// The attention unit is one head; an FFN chunk is a slice of the hidden units. Conv1D stores every
// projection [in, out], which is already the engine's layout.
import { z } from 'zod';
import { InvalidConfigError } from '../errors.ts';
import type { Checkpoint, Float32Tensor } from '../model/checkpoint.ts';
import { f32 } from '../executor/runtime.ts';
import type { ModelGraph } from '../graph/model-graph.ts';
import { F32_BYTES as F32, subBlockCost, type BaseConfig, type Feeds, type ModelFamily, type SubBlockCost, type TensorRole, type WeightBinding } from './family.ts';
import { gatherVector, unitRanges } from './gather.ts';
import { checkQuantizedLayout, matrixColumns, matrixRows } from './matrix-feeds.ts';

/** Activations we implement, in both the ONNX graphs and the TypeScript reference. */
export const ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'gelu', 'relu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export interface GPT2Config extends BaseConfig {
  family: 'gpt2';
  layerNormEpsilon: number;
  activation: Activation;
  /** Divide attention scores by sqrt(head_dim) (HF default true). */
  scaleAttnWeights: boolean;
  /** Also divide scores by (layer_idx + 1) (HF default false). */
  scaleAttnByInverseLayerIdx: boolean;
}

const positiveInt = z.number().int().positive();

// What transformers writes for GPT2LMHeadModel / GPT2Model (unknown keys are allowed and ignored).
const HfGpt2ConfigSchema = z.looseObject({
  model_type: z.string().optional(),
  n_layer: positiveInt,
  n_head: positiveInt,
  n_embd: positiveInt,
  n_inner: positiveInt.nullish(),
  n_positions: positiveInt,
  n_ctx: positiveInt.optional(),
  vocab_size: positiveInt,
  layer_norm_epsilon: z.number().positive().default(1e-5),
  activation_function: z.string().default('gelu_new'),
  scale_attn_weights: z.boolean().default(true),
  scale_attn_by_inverse_layer_idx: z.boolean().default(false),
  tie_word_embeddings: z.boolean().default(true),
  bos_token_id: z.number().int().nonnegative().nullish(),
  eos_token_id: z.number().int().nonnegative().nullish(),
});

export const zodIssues = (e: z.ZodError): string => e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');

/** Checks the invariants every part of the engine relies on (all families). */
export function validateBaseConfig(c: BaseConfig): void {
  if (c.nHead % c.nKvHead !== 0) throw new InvalidConfigError(`num_attention_heads (${c.nHead}) must be a multiple of num_key_value_heads (${c.nKvHead})`);
  if (c.headDim < 1 || !Number.isInteger(c.headDim)) throw new InvalidConfigError(`head dimension ${c.headDim} must be a positive integer`);
  for (const [k, v] of Object.entries({ bosTokenId: c.bosTokenId, eosTokenId: c.eosTokenId })) {
    if (v >= c.vocabSize) throw new InvalidConfigError(`${k} ${v} is outside the vocabulary of ${c.vocabSize}`);
  }
}

function parseHfConfig(json: Record<string, unknown>): GPT2Config {
  const parsed = HfGpt2ConfigSchema.safeParse(json);
  if (!parsed.success) throw new InvalidConfigError(`config.json is not a GPT-2 config: ${zodIssues(parsed.error)}`);
  const c = parsed.data;
  if (!(ACTIVATIONS as readonly string[]).includes(c.activation_function)) {
    throw new InvalidConfigError(`activation_function "${c.activation_function}" is not supported (supported: ${ACTIVATIONS.join(', ')})`);
  }
  if (c.n_embd % c.n_head !== 0) throw new InvalidConfigError(`n_embd (${c.n_embd}) must be divisible by n_head (${c.n_head})`);
  const config: GPT2Config = {
    family: 'gpt2',
    nLayer: c.n_layer,
    nHead: c.n_head,
    nKvHead: c.n_head,
    headDim: c.n_embd / c.n_head,
    nEmbd: c.n_embd,
    nInner: c.n_inner ?? 4 * c.n_embd,
    nPositions: c.n_positions,
    vocabSize: c.vocab_size,
    layerNormEpsilon: c.layer_norm_epsilon,
    activation: c.activation_function as Activation,
    scaleAttnWeights: c.scale_attn_weights,
    scaleAttnByInverseLayerIdx: c.scale_attn_by_inverse_layer_idx,
    tieWordEmbeddings: c.tie_word_embeddings,
    bosTokenId: c.bos_token_id ?? c.vocab_size - 1,
    eosTokenId: c.eos_token_id ?? c.vocab_size - 1,
  };
  validateBaseConfig(config);
  return config;
}

function toHfConfig(c: GPT2Config): Record<string, unknown> {
  return {
    architectures: ['GPT2LMHeadModel'],
    model_type: 'gpt2',
    activation_function: c.activation,
    attn_pdrop: 0.1,
    embd_pdrop: 0.1,
    resid_pdrop: 0.1,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    initializer_range: 0.02,
    layer_norm_epsilon: c.layerNormEpsilon,
    n_ctx: c.nPositions,
    n_embd: c.nEmbd,
    n_head: c.nHead,
    n_inner: c.nInner === 4 * c.nEmbd ? null : c.nInner,
    n_layer: c.nLayer,
    n_positions: c.nPositions,
    reorder_and_upcast_attn: false,
    scale_attn_by_inverse_layer_idx: c.scaleAttnByInverseLayerIdx,
    scale_attn_weights: c.scaleAttnWeights,
    tie_word_embeddings: c.tieWordEmbeddings,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: c.vocabSize,
  };
}

/** Every tensor of a GPT-2 checkpoint (canonical names, without GPT2LMHeadModel's "transformer."). */
function tensors(c: GPT2Config): TensorRole[] {
  const E = c.nEmbd, I = c.nInner;
  const t = (name: string, storedShape: number[]): TensorRole => ({ name, storedShape, transposed: false });
  const out = [t('wte.weight', [c.vocabSize, E]), t('wpe.weight', [c.nPositions, E])];
  for (let l = 0; l < c.nLayer; l++) {
    const p = `h.${l}.`;
    out.push(
      t(`${p}ln_1.weight`, [E]), t(`${p}ln_1.bias`, [E]),
      t(`${p}attn.c_attn.weight`, [E, 3 * E]), t(`${p}attn.c_attn.bias`, [3 * E]),
      t(`${p}attn.c_proj.weight`, [E, E]), t(`${p}attn.c_proj.bias`, [E]),
      t(`${p}ln_2.weight`, [E]), t(`${p}ln_2.bias`, [E]),
      t(`${p}mlp.c_fc.weight`, [E, I]), t(`${p}mlp.c_fc.bias`, [I]),
      t(`${p}mlp.c_proj.weight`, [I, E]), t(`${p}mlp.c_proj.bias`, [E]),
    );
  }
  out.push(t('ln_f.weight', [E]), t('ln_f.bias', [E]));
  if (!c.tieWordEmbeddings) out.push(t('lm_head.weight', [c.vocabSize, E]));
  return out;
}

const PREFIX = 'transformer.';
// older checkpoints carry the causal-mask buffers; every runtime rebuilds them
const MASK_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

/** What attention scores of layer l are multiplied by before the softmax. */
export function attentionScale(c: GPT2Config, l: number): number {
  let s = c.scaleAttnWeights ? 1 / Math.sqrt(c.headDim) : 1;
  if (c.scaleAttnByInverseLayerIdx) s /= l + 1;
  return s;
}

const need = (ckpt: Checkpoint, name: string): Float32Array => {
  const t = ckpt.tensors.get(name);
  if (!t) throw new Error(`checkpoint has no tensor "${name}"`);
  return t.data;
};

/** The split graphs' weight inputs (onnx-graphs/src/gpt2). q|k|v columns of c_attn, head-major. */
function bind(ckpt: Checkpoint<GPT2Config>, graph: ModelGraph): WeightBinding {
  checkQuantizedLayout(ckpt, graph.ffnChunks);
  const c = ckpt.config, E = c.nEmbd, hd = c.headDim, I = c.nInner;
  const t = (l: number, n: string): Float32Array => need(ckpt, `h.${l}.${n}`);
  const qkvRanges = (units: readonly number[]) => [0, E, 2 * E].flatMap((base) => unitRanges(units, hd, base));
  const chunkRanges = (l: number, chunks: readonly number[]) => chunks.map((k) => graph.layers[l]!.ffnChunks[k]!);
  const qkv = (l: number, units: readonly number[]): Feeds => {
    const m = units.length * hd, rs = qkvRanges(units);
    return {
      ln_g: f32(t(l, 'ln_1.weight'), [E]),
      ln_b: f32(t(l, 'ln_1.bias'), [E]),
      ...matrixColumns(ckpt, 'w_qkv', `h.${l}.attn.c_attn.weight`, E, 3 * E, rs),
      b_qkv: f32(gatherVector(t(l, 'attn.c_attn.bias'), rs), [3 * m]),
    };
  };
  const attn = (l: number, units: readonly number[]): Feeds => ({
    ...qkv(l, units),
    ...matrixRows(ckpt, 'w_o', `h.${l}.attn.c_proj.weight`, E, E, unitRanges(units, hd)),
    scale: f32(Float32Array.of(attentionScale(c, l)), [1]),
  });
  const ffn = (l: number, chunks: readonly number[]): Feeds => {
    const rs = chunkRanges(l, chunks), m = rs.reduce((a, r) => a + r.width, 0);
    return {
      ln_g: f32(t(l, 'ln_2.weight'), [E]),
      ln_b: f32(t(l, 'ln_2.bias'), [E]),
      ...matrixColumns(ckpt, 'w_fc', `h.${l}.mlp.c_fc.weight`, E, I, rs),
      b_fc: f32(gatherVector(t(l, 'mlp.c_fc.bias'), rs), [m]),
      ...matrixRows(ckpt, 'w_proj', `h.${l}.mlp.c_proj.weight`, I, E, rs),
    };
  };
  const all = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  const prefixed = (prefix: string, f: Feeds): Feeds => Object.fromEntries(Object.entries(f).map(([k, v]) => [prefix + k, v]));
  return {
    attn,
    kv: qkv,
    ffn,
    block: (l) => ({
      ...prefixed('attn.', attn(l, all(c.nHead))),
      'attn.b_o': f32(t(l, 'attn.c_proj.bias'), [E]),
      ...prefixed('mlp.', ffn(l, all(graph.ffnChunks))),
      'mlp.b_proj': f32(t(l, 'mlp.c_proj.bias'), [E]),
    }),
    positions: () => ({}),
    outBias: (l, kind) => t(l, kind === 'attn' ? 'attn.c_proj.bias' : 'mlp.c_proj.bias'),
  };
}

export const gpt2Family: ModelFamily<GPT2Config> = {
  name: 'gpt2',
  modelTypes: ['gpt2'],
  parseHfConfig,
  toHfConfig,
  tensors,
  layerPrefix: 'h',
  embeddingTensor: 'wte.weight',
  hfKey: (name) => (name === 'lm_head.weight' ? name : PREFIX + name),
  canonicalName: (key) => {
    const name = key.startsWith(PREFIX) ? key.slice(PREFIX.length) : key;
    return MASK_BUFFER.test(name) ? null : name;
  },
  attnUnits: (c) => c.nHead,
  queryHeadsPerUnit: () => 1,
  projections: (c, l) => [
    { name: `h.${l}.attn.c_attn.weight`, K: c.nEmbd, N: 3 * c.nEmbd, rows: 'whole' },
    { name: `h.${l}.attn.c_proj.weight`, K: c.nEmbd, N: c.nEmbd, rows: 'attn-units' },
    { name: `h.${l}.mlp.c_fc.weight`, K: c.nEmbd, N: c.nInner, rows: 'whole' },
    { name: `h.${l}.mlp.c_proj.weight`, K: c.nInner, N: c.nEmbd, rows: 'ffn-chunks' },
  ],
  attnUnitCost: (c): SubBlockCost => {
    const E = c.nEmbd, hd = c.headDim;
    // q,k,v columns (+bias) and this head's hd rows of the output projection; per new row:
    // the projections, scores and context over T = P + n keys, and the softmax
    return subBlockCost((4 * E * hd + 3 * hd) * F32, 2 * hd * F32, (n, P) => 2 * n * E * 3 * hd + 2 * 2 * n * (P + n) * hd + 2 * n * hd * E + 5 * n * (P + n));
  },
  ffnChunkCost: (c, w): SubBlockCost => subBlockCost((2 * c.nEmbd * w + w) * F32, 0, (n) => n * (4 * c.nEmbd * w + 8 * w)),
  // embeddings are lookups; the LM head runs on the last position only
  edgeFixedCost: (c): SubBlockCost =>
    subBlockCost(((c.vocabSize + c.nPositions) * c.nEmbd + 2 * c.nEmbd + (c.tieWordEmbeddings ? 0 : c.vocabSize * c.nEmbd)) * F32, 0, (n) => n * c.nEmbd + 2 * c.nEmbd * c.vocabSize),
  // ln_1 and ln_2 (weight and bias) and the two output-projection biases
  layerSharedBytes: (c) => 6 * c.nEmbd * F32,
  parameterCount: (c) => {
    const E = c.nEmbd;
    const perLayer = 2 * 2 * E + (E * 3 * E + 3 * E) + (E * E + E) + (E * c.nInner + c.nInner) + (c.nInner * E + E);
    const head = c.tieWordEmbeddings ? 0 : c.vocabSize * E;
    return c.vocabSize * E + c.nPositions * E + c.nLayer * perLayer + 2 * E + head;
  },
  embed: (tensors: Map<string, Float32Tensor>, c, ids, start) => {
    const E = c.nEmbd, wte = tensors.get('wte.weight')!.data, wpe = tensors.get('wpe.weight')!.data;
    const x = new Float32Array(ids.length * E);
    ids.forEach((id, t) => {
      const p = start + t;
      for (let i = 0; i < E; i++) x[t * E + i] = wte[id * E + i]! + wpe[p * E + i]!;
    });
    return x;
  },
  bind,
};

const GPT2_VOCAB = 50257;
/** A GPT-2 config from the fields that differ from gpt2-small's defaults (head width derived). */
export const gpt2Config = (o: Partial<GPT2Config> & Pick<GPT2Config, 'nLayer' | 'nHead' | 'nEmbd'>): GPT2Config => ({
  family: 'gpt2',
  nInner: 4 * o.nEmbd,
  nPositions: 1024,
  vocabSize: GPT2_VOCAB,
  layerNormEpsilon: 1e-5,
  activation: 'gelu_new',
  scaleAttnWeights: true,
  scaleAttnByInverseLayerIdx: false,
  tieWordEmbeddings: true,
  bosTokenId: GPT2_VOCAB - 1,
  eosTokenId: GPT2_VOCAB - 1,
  ...o,
  nKvHead: o.nHead,
  headDim: o.nEmbd / o.nHead,
});
const base = gpt2Config;

/**
 * `tiny` for tests (n_inner deliberately not 4*n_embd and not a multiple of n_head, so FFN chunk
 * padding is exercised), and the four published GPT-2 shapes for benchmarks.
 */
export const GPT2_PRESETS = {
  tiny: base({ nLayer: 2, nHead: 4, nEmbd: 64, nInner: 150, nPositions: 128 }), //  3.4M params (mostly wte)
  gpt2: base({ nLayer: 12, nHead: 12, nEmbd: 768 }), //  124M
  'gpt2-medium': base({ nLayer: 24, nHead: 16, nEmbd: 1024 }), //  355M
  'gpt2-large': base({ nLayer: 36, nHead: 20, nEmbd: 1280 }), //  774M
  'gpt2-xl': base({ nLayer: 48, nHead: 25, nEmbd: 1600 }), // 1558M
} satisfies Record<string, GPT2Config>;
