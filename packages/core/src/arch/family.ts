// The model-family seam. A family (GPT-2, LLaMA, ...) states once, here and nowhere else:
//   - its config (parsed from Hugging Face's config.json) and which tensor plays which role, with
//     its checkpoint name and the layout it is stored in;
//   - the partition units of a layer (attention units and FFN chunks) and their shapes;
//   - what each unit costs: FLOPs, weight bytes, KV bytes (wire bytes are rows of n_embd).
// The decomposition graph, the weight bindings of the split graphs, the loaders, the graph
// builders and the policy's cost model all read from the family. docs/ARCHITECTURE.md says how a
// third family is added.
import type { Checkpoint, Float32Tensor } from '../model/checkpoint.ts';
import type { TensorLike } from '../executor/runtime.ts';
import type { ModelGraph } from '../graph/model-graph.ts';
import type { ProjectionRole } from './precision.ts';

export const FAMILIES = ['gpt2', 'llama'] as const;
export type FamilyName = (typeof FAMILIES)[number];

/** What every family's config has; the rest of the engine reads only these. */
export interface BaseConfig {
  family: FamilyName;
  nLayer: number;
  /** Residual width (hidden_size). */
  nEmbd: number;
  /** Query heads per layer. */
  nHead: number;
  /** Key/value heads per layer (= nHead without grouped-query attention). */
  nKvHead: number;
  /** Width of one head. */
  headDim: number;
  /** FFN hidden width (n_inner / intermediate_size). */
  nInner: number;
  /** Context window. */
  nPositions: number;
  vocabSize: number;
  /** LM head shares the token embedding. */
  tieWordEmbeddings: boolean;
  bosTokenId: number;
  eosTokenId: number;
}

/** What one sub-block costs. FLOPs count multiply and add as 2. */
export interface SubBlockCost {
  /** Bytes of weights this sub-block needs resident on the side that runs it. */
  weightBytes: number;
  /** KV-cache bytes it adds per token of context (0 for FFN chunks). */
  kvBytesPerToken: number;
  /**
   * FLOPs to process n new rows after P cached positions (causal attention counted over the full
   * rectangle n x (P + n)). The one formula; the two below are its common cases.
   */
  flops(n: number, P: number): number;
  /** FLOPs to process a prompt of n tokens: flops(n, 0). */
  prefillFlops(n: number): number;
  /** FLOPs for one new token at total context T (including that token): flops(1, T - 1). */
  decodeFlops(T: number): number;
}

/** A SubBlockCost from its one FLOP formula. */
export const subBlockCost = (weightBytes: number, kvBytesPerToken: number, flops: (n: number, P: number) => number): SubBlockCost => ({
  weightBytes,
  kvBytesPerToken,
  flops,
  prefillFlops: (n) => flops(n, 0),
  decodeFlops: (T) => flops(1, T - 1),
});

/**
 * One tensor of a checkpoint: its canonical name (the HF key without the model prefix), the
 * shape it is stored in, and whether the loader transposes it. Inside the engine every
 * projection is [in, out] (applied as x @ W); nn.Linear stores [out, in], so LLaMA's are
 * transposed once at load (and back when written).
 */
export interface TensorRole {
  name: string;
  /** Shape as stored in the checkpoint file. */
  storedShape: number[];
  transposed: boolean;
}

/** Everything the engine knows about a family; one object per family (arch/gpt2.ts, arch/llama.ts). */
export interface ModelFamily<C extends BaseConfig = BaseConfig> {
  readonly name: FamilyName;
  /** HF `model_type` values this family reads. */
  readonly modelTypes: readonly string[];
  /** Parse config.json (throws InvalidConfigError naming the problem). */
  parseHfConfig(json: Record<string, unknown>): C;
  /** The config.json transformers would write. */
  toHfConfig(c: C): Record<string, unknown>;
  /** Every tensor a checkpoint must hold, in order. */
  tensors(c: C): TensorRole[];
  /** The checkpoint key of a canonical name (what we write), and back (null: skip this key). */
  hfKey(name: string): string;
  canonicalName(key: string): string | null;
  /** How canonical tensor names prefix layer l ("h" for GPT-2's h.3.*, "layers" for LLaMA's). */
  readonly layerPrefix: string;
  /** The token embedding's canonical name (the LM head when tied). */
  readonly embeddingTensor: string;
  /** Attention partition units per layer: GPT-2's unit is one head, LLaMA's one KV group. */
  attnUnits(c: C): number;
  /** Query heads in one attention unit. */
  queryHeadsPerUnit(c: C): number;
  /** Costs of one attention unit, of an FFN chunk of `width` hidden units, and of the edge's fixed part. */
  attnUnitCost(c: C): SubBlockCost;
  ffnChunkCost(c: C, width: number): SubBlockCost;
  /** Embeddings, final norm and LM head (on the edge unless a plan says otherwise). */
  edgeFixedCost(c: C): SubBlockCost;
  /** Bytes of a layer's parameters outside its units (norms, output biases): whoever runs part of the layer holds them. */
  layerSharedBytes(c: C): number;
  parameterCount(c: C): number;
  /** The tokens the embedding lookup reads: ids [T] -> x [T, E] at positions start.. */
  embed(tensors: Map<string, Float32Tensor>, c: C, ids: readonly number[], start: number): Float32Array;
  /**
   * The projection matrices of layer l, [in, out], and which of them a subset cuts by rows: what a
   * weight precision other than fp32 quantizes (with the LM head; arch/precision.ts, quant/).
   */
  projections(c: C, l: number): ProjectionRole[];
  /** The weights the split graphs take, cut to what a side owns (see WeightBinding). */
  bind(ckpt: Checkpoint<C>, graph: ModelGraph): WeightBinding;
}

export type Feeds = Record<string, TensorLike>;

/**
 * The weight inputs of a family's weightless split graphs (onnx-graphs builds the graphs with
 * exactly these input names). SplitWeights caches what these return per subset, so a plan
 * change gathers once and decoding never copies weights.
 */
export interface WeightBinding {
  /** The `attn` graph's weights for attention units `units` of layer l. */
  attn(l: number, units: readonly number[]): Feeds;
  /** The `kv` graph's weights (what rebuilds those units' keys and values from a checkpoint). */
  kv(l: number, units: readonly number[]): Feeds;
  /** The `ffn` graph's weights for FFN chunks `chunks` of layer l. */
  ffn(l: number, chunks: readonly number[]): Feeds;
  /** The weightless `block` graph's weights for all of layer l (names prefixed attn. and mlp.). */
  block(l: number): Feeds;
  /** Per-call inputs that depend on absolute positions [start, start + T) (RoPE); {} for GPT-2. */
  positions(start: number, T: number): Feeds;
  /** The bias the edge adds to the residual after a block (GPT-2's c_proj biases; LLaMA has none). */
  outBias(l: number, kind: 'attn' | 'ffn'): Float32Array | undefined;
}

export const F32_BYTES = 4;
