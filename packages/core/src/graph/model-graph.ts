// The decomposition graph: model -> layers -> attention heads and FFN chunks, each carrying
// what it costs. This is what a PartitionPlan places, what the cost model prices and what the
// policy sees. Ids reuse Hugging Face names: "h.3.attn.head.5", "h.3.mlp.chunk.2".
//
// FFN chunks split the hidden dimension (n_inner) into K slices. Chunk k computes
//   act(ln_2(x) @ W_fc[:, cols_k] + b_fc[cols_k]) @ W_proj[cols_k, :]
// an n_embd-wide partial sum; the FFN output is the sum over chunks (plus b_proj). So a chunk
// sends n_embd numbers per token, where the paper's W1-edge/W2-cloud mode sends n_inner (4x more).
import { headDim, type GPT2Config } from '../model/config.ts';
import { InvalidConfigError } from '../errors.ts';

export type Side = 'edge' | 'cloud';
export const WIRE_PRECISIONS = ['fp32', 'fp16', 'int8'] as const;
export type WirePrecision = (typeof WIRE_PRECISIONS)[number];

const F32 = 4; // the runtimes compute and store weights and KV in float32

/** What one sub-block costs. FLOPs count multiply and add as 2. */
export interface SubBlockCost {
  /** Bytes of weights this sub-block needs resident on the side that runs it. */
  weightBytes: number;
  /** KV-cache bytes it adds per token of context (0 for FFN chunks). */
  kvBytesPerToken: number;
  /** FLOPs to process a prompt of n tokens (causal attention counted over the full square). */
  prefillFlops(n: number): number;
  /** FLOPs for one new token at total context T (including that token). */
  decodeFlops(T: number): number;
}

export interface HeadNode {
  kind: 'head';
  id: string;
  layer: number;
  index: number;
  cost: SubBlockCost;
}

export interface FfnChunkNode {
  kind: 'ffn-chunk';
  id: string;
  layer: number;
  index: number;
  /** Hidden units [start, start + width) of n_inner. */
  start: number;
  width: number;
  cost: SubBlockCost;
}

export interface LayerNode {
  index: number;
  heads: HeadNode[];
  ffnChunks: FfnChunkNode[];
}

export interface ModelGraph {
  config: GPT2Config;
  /** K: FFN chunks per layer. */
  ffnChunks: number;
  layers: LayerNode[];
  /** Always on the edge: token/position embeddings, final LayerNorm and LM head. */
  edgeFixed: SubBlockCost;
  /**
   * Bytes of one n_embd-wide activation row (a residual or a partial sum) on the wire. Every
   * crossing a plan creates moves rows of this size per token; int8 carries a float32 scale per row.
   */
  wireBytesPerToken: Record<WirePrecision, number>;
}

export interface ModelGraphOptions {
  /** FFN chunks per layer; default n_head. */
  ffnChunks?: number;
}

/** Split n into k nearly equal contiguous ranges (the first n % k get one more). */
export function chunkRanges(n: number, k: number): Array<{ start: number; width: number }> {
  const base = Math.floor(n / k), extra = n % k;
  const out: Array<{ start: number; width: number }> = [];
  let start = 0;
  for (let i = 0; i < k; i++) {
    const width = base + (i < extra ? 1 : 0);
    out.push({ start, width });
    start += width;
  }
  return out;
}

export function buildModelGraph(config: GPT2Config, options: ModelGraphOptions = {}): ModelGraph {
  const K = options.ffnChunks ?? config.nHead;
  if (!Number.isInteger(K) || K < 1 || K > config.nInner) {
    throw new InvalidConfigError(`ffnChunks must be an integer in [1, n_inner=${config.nInner}], got ${K}`);
  }
  const E = config.nEmbd, hd = headDim(config);

  const headCost: SubBlockCost = {
    // q,k,v columns (+bias) and this head's hd rows of the output projection
    weightBytes: (4 * E * hd + 3 * hd) * F32,
    kvBytesPerToken: 2 * hd * F32,
    prefillFlops: (n) => 2 * n * E * 3 * hd + 2 * 2 * n * n * hd + 2 * n * hd * E + 5 * n * n,
    decodeFlops: (T) => 2 * E * 3 * hd + 2 * 2 * T * hd + 2 * hd * E + 5 * T,
  };
  const chunkCost = (w: number): SubBlockCost => ({
    weightBytes: (2 * E * w + w) * F32,
    kvBytesPerToken: 0,
    prefillFlops: (n) => n * (4 * E * w + 8 * w),
    decodeFlops: () => 4 * E * w + 8 * w,
  });
  const ranges = chunkRanges(config.nInner, K);
  const layers: LayerNode[] = [];
  for (let l = 0; l < config.nLayer; l++) {
    layers.push({
      index: l,
      heads: Array.from({ length: config.nHead }, (_, h) => ({
        kind: 'head' as const,
        id: `h.${l}.attn.head.${h}`,
        layer: l,
        index: h,
        cost: headCost,
      })),
      ffnChunks: ranges.map((r, k) => ({
        kind: 'ffn-chunk' as const,
        id: `h.${l}.mlp.chunk.${k}`,
        layer: l,
        index: k,
        start: r.start,
        width: r.width,
        cost: chunkCost(r.width),
      })),
    });
  }
  const V = config.vocabSize;
  const edgeFixed: SubBlockCost = {
    weightBytes: ((V + config.nPositions) * E + 2 * E + (config.tieWordEmbeddings ? 0 : V * E)) * F32,
    kvBytesPerToken: 0,
    // embeddings are lookups; the LM head runs on the last position only
    prefillFlops: (n) => n * E + 2 * E * V,
    decodeFlops: () => E + 2 * E * V,
  };
  return {
    config,
    ffnChunks: K,
    layers,
    edgeFixed,
    wireBytesPerToken: { fp32: 4 * E, fp16: 2 * E, int8: E + 4 },
  };
}
