// The decomposition graph: model -> layers -> attention units and FFN chunks, each carrying what
// it costs (read from the model family, arch/). This is what a PartitionPlan places, what the cost
// model prices and what the policy sees. Ids follow the checkpoint's names: "h.3.attn.head.5",
// "layers.3.attn.group.1", "h.3.mlp.chunk.2".
//
// FFN chunks split the hidden dimension (n_inner) into K slices; chunk k's output is an
// n_embd-wide partial sum and the FFN output is the sum over chunks. So a chunk sends n_embd
// numbers per token, where the paper's W1-edge/W2-cloud mode sends n_inner (4x more).
import type { ModelConfig } from '../arch/index.ts';
import { familyOf } from '../arch/index.ts';
import type { SubBlockCost } from '../arch/family.ts';
import { InvalidConfigError } from '../errors.ts';

export type { SubBlockCost } from '../arch/family.ts';
export type Side = 'edge' | 'cloud';
export const WIRE_PRECISIONS = ['fp32', 'fp16', 'int8'] as const;
export type WirePrecision = (typeof WIRE_PRECISIONS)[number];

/**
 * One attention partition unit: for GPT-2 one head, for LLaMA one KV group (a KV head and the
 * query heads that read it). Its KV cache lives on the side that runs it.
 */
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
  config: ModelConfig;
  /** Attention units per layer (GPT-2: heads; LLaMA: KV groups). Plans place these. */
  attnUnits: number;
  /** Query heads per attention unit. */
  queryHeadsPerUnit: number;
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
  /** FFN chunks per layer; default n_head (query heads). */
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

export function buildModelGraph(config: ModelConfig, options: ModelGraphOptions = {}): ModelGraph {
  const family = familyOf(config);
  const K = options.ffnChunks ?? config.nHead;
  if (!Number.isInteger(K) || K < 1 || K > config.nInner) {
    throw new InvalidConfigError(`ffnChunks must be an integer in [1, n_inner=${config.nInner}], got ${K}`);
  }
  const E = config.nEmbd, U = family.attnUnits(config);
  const unitCost = family.attnUnitCost(config);
  const ranges = chunkRanges(config.nInner, K);
  const chunkCosts = ranges.map((r) => family.ffnChunkCost(config, r.width));
  const unitName = U === config.nHead ? 'head' : 'group', lp = family.layerPrefix;
  const layers: LayerNode[] = [];
  for (let l = 0; l < config.nLayer; l++) {
    layers.push({
      index: l,
      heads: Array.from({ length: U }, (_, h) => ({
        kind: 'head' as const,
        id: `${lp}.${l}.attn.${unitName}.${h}`,
        layer: l,
        index: h,
        cost: unitCost,
      })),
      ffnChunks: ranges.map((r, k) => ({
        kind: 'ffn-chunk' as const,
        id: `${lp}.${l}.mlp.chunk.${k}`,
        layer: l,
        index: k,
        start: r.start,
        width: r.width,
        cost: chunkCosts[k]!,
      })),
    });
  }
  return {
    config,
    attnUnits: U,
    queryHeadsPerUnit: family.queryHeadsPerUnit(config),
    ffnChunks: K,
    layers,
    edgeFixed: family.edgeFixedCost(config),
    wireBytesPerToken: { fp32: 4 * E, fp16: 2 * E, int8: E + 4 },
  };
}
