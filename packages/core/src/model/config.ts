// GPT-2 configuration, read from (and written to) Hugging Face's config.json.
// Field meanings follow transformers' GPT2Config; names are camelCase here.
import { z } from 'zod';
import { InvalidConfigError } from '../errors.ts';

/** Activations we implement, in both the ONNX graphs and the TypeScript reference. */
export const ACTIVATIONS = ['gelu_new', 'gelu_pytorch_tanh', 'gelu_fast', 'gelu', 'relu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export interface GPT2Config {
  nLayer: number;
  nHead: number;
  nEmbd: number;
  /** FFN hidden width; HF writes null for 4 * n_embd. */
  nInner: number;
  /** Context window (learned position embeddings). */
  nPositions: number;
  vocabSize: number;
  layerNormEpsilon: number;
  activation: Activation;
  /** Divide attention scores by sqrt(head_dim) (HF default true). */
  scaleAttnWeights: boolean;
  /** Also divide scores by (layer_idx + 1) (HF default false). */
  scaleAttnByInverseLayerIdx: boolean;
  /** LM head shares the token embedding (HF default true). */
  tieWordEmbeddings: boolean;
  bosTokenId: number;
  eosTokenId: number;
}

export const headDim = (c: GPT2Config): number => c.nEmbd / c.nHead;

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

/** Parse a Hugging Face GPT-2 config.json object; throws InvalidConfigError naming the problem. */
export function parseHfConfig(json: unknown): GPT2Config {
  const parsed = HfGpt2ConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new InvalidConfigError(`config.json is not a GPT-2 config: ${issues}`);
  }
  const c = parsed.data;
  if (c.model_type !== undefined && c.model_type !== 'gpt2') {
    throw new InvalidConfigError(`config.json has model_type "${c.model_type}"; only "gpt2" is supported`);
  }
  if (!(ACTIVATIONS as readonly string[]).includes(c.activation_function)) {
    throw new InvalidConfigError(
      `activation_function "${c.activation_function}" is not supported (supported: ${ACTIVATIONS.join(', ')})`,
    );
  }
  const config: GPT2Config = {
    nLayer: c.n_layer,
    nHead: c.n_head,
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
  validateConfig(config);
  return config;
}

/** Checks the invariants every part of the engine relies on. */
export function validateConfig(c: GPT2Config): void {
  if (c.nEmbd % c.nHead !== 0) {
    throw new InvalidConfigError(`n_embd (${c.nEmbd}) must be divisible by n_head (${c.nHead})`);
  }
  for (const [k, v] of Object.entries({ bosTokenId: c.bosTokenId, eosTokenId: c.eosTokenId })) {
    if (v >= c.vocabSize) throw new InvalidConfigError(`${k} ${v} is outside the vocabulary of ${c.vocabSize}`);
  }
}

/** The config.json transformers would write for this model (GPT2LMHeadModel). */
export function toHfConfig(c: GPT2Config): Record<string, unknown> {
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

const GPT2_VOCAB = 50257;
const base = (o: Partial<GPT2Config> & Pick<GPT2Config, 'nLayer' | 'nHead' | 'nEmbd'>): GPT2Config => ({
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
});

/**
 * Presets: `tiny` for tests (n_inner deliberately not 4*n_embd and not a multiple of n_head, so
 * FFN chunk padding is exercised), and the four published GPT-2 shapes for benchmarks.
 */
export const PRESETS = {
  tiny: base({ nLayer: 2, nHead: 4, nEmbd: 64, nInner: 150, nPositions: 128 }), //  3.4M params (mostly wte)
  gpt2: base({ nLayer: 12, nHead: 12, nEmbd: 768 }), //  124M
  'gpt2-medium': base({ nLayer: 24, nHead: 16, nEmbd: 1024 }), //  355M
  'gpt2-large': base({ nLayer: 36, nHead: 20, nEmbd: 1280 }), //  774M
  'gpt2-xl': base({ nLayer: 48, nHead: 25, nEmbd: 1600 }), // 1558M
} satisfies Record<string, GPT2Config>;
export type PresetName = keyof typeof PRESETS;

/** Parameter count (tied LM head counted once). */
export function parameterCount(c: GPT2Config): number {
  const E = c.nEmbd;
  const perLayer = 2 * 2 * E + (E * 3 * E + 3 * E) + (E * E + E) + (E * c.nInner + c.nInner) + (c.nInner * E + E);
  const head = c.tieWordEmbeddings ? 0 : c.vocabSize * E;
  return c.vocabSize * E + c.nPositions * E + c.nLayer * perLayer + 2 * E + head;
}

/** What attention scores of layer l are multiplied by before the softmax. */
export function attentionScale(c: GPT2Config, l: number): number {
  let s = c.scaleAttnWeights ? 1 / Math.sqrt(headDim(c)) : 1;
  if (c.scaleAttnByInverseLayerIdx) s /= l + 1;
  return s;
}
