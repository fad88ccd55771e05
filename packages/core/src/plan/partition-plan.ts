// A PartitionPlan says, per layer, which attention heads and which FFN chunks run on the cloud.
// Everything else runs on the edge, which also always owns the embeddings, the final LayerNorm,
// the LM head and the residual stream at partition boundaries: token ids never leave the edge.
import { z } from 'zod';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import type { ModelGraph } from '../graph/model-graph.ts';
import { InvalidPlanError } from '../errors.ts';

export interface LayerPlacement {
  /** Sorted, unique head indices that run on the cloud. */
  cloudHeads: number[];
  /** Sorted, unique FFN chunk indices that run on the cloud. */
  cloudFfnChunks: number[];
}

export interface PartitionPlan {
  nHead: number;
  ffnChunks: number;
  layers: LayerPlacement[];
}

export type BlockKind = 'attn' | 'ffn';
export type BlockOwner = 'edge' | 'cloud' | 'mixed';

const PlanJsonSchema = z.strictObject({
  version: z.literal(1).optional(),
  nHead: z.number().int().positive().optional(),
  ffnChunks: z.number().int().positive().optional(),
  layers: z.array(
    z.strictObject({
      cloudHeads: z.array(z.number().int()),
      cloudFfnChunks: z.array(z.number().int()),
    }),
  ),
});

/** Validate a plan (from JSON or code) against the model graph; returns a normalised copy. */
export function validatePlan(input: unknown, graph: ModelGraph): PartitionPlan {
  const parsed = PlanJsonSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new InvalidPlanError(`malformed partition plan: ${issues}`);
  }
  const p = parsed.data;
  const { nLayer, nHead } = graph.config;
  if (p.layers.length !== nLayer) {
    throw new InvalidPlanError(`plan has ${p.layers.length} layers; the model has ${nLayer}`);
  }
  if (p.nHead !== undefined && p.nHead !== nHead) {
    throw new InvalidPlanError(`plan is for ${p.nHead} heads per layer; the model has ${nHead}`);
  }
  if (p.ffnChunks !== undefined && p.ffnChunks !== graph.ffnChunks) {
    throw new InvalidPlanError(`plan is for ${p.ffnChunks} FFN chunks per layer; the graph has ${graph.ffnChunks}`);
  }
  const check = (xs: number[], n: number, what: string, l: number): number[] => {
    const sorted = [...xs].sort((a, b) => a - b);
    sorted.forEach((x, i) => {
      if (x < 0 || x >= n) throw new InvalidPlanError(`layer ${l}: ${what} index ${x} is outside [0, ${n})`);
      if (i > 0 && sorted[i - 1] === x) throw new InvalidPlanError(`layer ${l}: ${what} index ${x} is listed twice`);
    });
    return sorted;
  };
  return {
    nHead,
    ffnChunks: graph.ffnChunks,
    layers: p.layers.map((layer, l) => ({
      cloudHeads: check(layer.cloudHeads, nHead, 'head', l),
      cloudFfnChunks: check(layer.cloudFfnChunks, graph.ffnChunks, 'FFN chunk', l),
    })),
  };
}

/** The JSON form written to plan files (`--plan FILE.json`). */
export function planToJson(plan: PartitionPlan): object {
  return { version: 1, nHead: plan.nHead, ffnChunks: plan.ffnChunks, layers: plan.layers };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function uniform(graph: ModelGraph, cloud: (l: number) => boolean): PartitionPlan {
  const { nLayer, nHead } = graph.config;
  return {
    nHead,
    ffnChunks: graph.ffnChunks,
    layers: range(nLayer).map((l) =>
      cloud(l) ? { cloudHeads: range(nHead), cloudFfnChunks: range(graph.ffnChunks) } : { cloudHeads: [], cloudFfnChunks: [] },
    ),
  };
}

export const edgeOnlyPlan = (graph: ModelGraph): PartitionPlan => uniform(graph, () => false);
export const cloudOnlyPlan = (graph: ModelGraph): PartitionPlan => uniform(graph, () => true);
/** Neurosurgeon-style layer cut: the first k layers on the edge, the rest on the cloud. */
export const layerSplitPlan = (graph: ModelGraph, k: number): PartitionPlan => uniform(graph, (l) => l >= k);

/** Half of every layer's heads and chunks on each side (the odd ones on the cloud). */
export function halfPlan(graph: ModelGraph): PartitionPlan {
  const { nLayer, nHead } = graph.config;
  return {
    nHead,
    ffnChunks: graph.ffnChunks,
    layers: range(nLayer).map(() => ({
      cloudHeads: range(nHead).filter((h) => h % 2 === 1),
      cloudFfnChunks: range(graph.ffnChunks).filter((k) => k % 2 === 1),
    })),
  };
}

/**
 * A random plan, deterministic in `seed`. Each layer draws its own cloud fraction, so plans mix
 * whole-edge, whole-cloud and split layers (the cases the executor schedules differently).
 */
export function randomPlan(graph: ModelGraph, seed: number): PartitionPlan {
  const rng = xoroshiro128plus(seed);
  const int = (lo: number, hi: number): number => uniformInt(rng, lo, hi);
  const pick = (n: number): number[] => {
    const mode = int(0, 3); // 0: none, 1: all, 2-3: a random subset
    if (mode === 0) return [];
    if (mode === 1) return range(n);
    const threshold = int(1, 99);
    return range(n).filter(() => int(0, 99) < threshold);
  };
  const { nLayer, nHead } = graph.config;
  return {
    nHead,
    ffnChunks: graph.ffnChunks,
    layers: range(nLayer).map(() => ({ cloudHeads: pick(nHead), cloudFfnChunks: pick(graph.ffnChunks) })),
  };
}

/** Who runs a block: all its sub-blocks on one side, or split between both. */
export function blockOwner(plan: PartitionPlan, layer: number, kind: BlockKind): BlockOwner {
  const l = plan.layers[layer]!;
  const [onCloud, total] = kind === 'attn' ? [l.cloudHeads.length, plan.nHead] : [l.cloudFfnChunks.length, plan.ffnChunks];
  return onCloud === 0 ? 'edge' : onCloud === total ? 'cloud' : 'mixed';
}

/** The sub-blocks a side owns in a layer. */
export function ownedHeads(plan: PartitionPlan, layer: number, side: 'edge' | 'cloud'): number[] {
  const cloud = plan.layers[layer]!.cloudHeads;
  return side === 'cloud' ? cloud : range(plan.nHead).filter((h) => !cloud.includes(h));
}

export function ownedChunks(plan: PartitionPlan, layer: number, side: 'edge' | 'cloud'): number[] {
  const cloud = plan.layers[layer]!.cloudFfnChunks;
  return side === 'cloud' ? cloud : range(plan.ffnChunks).filter((k) => !cloud.includes(k));
}

/** Parse the CLI's --plan argument: edge | cloud | half | layers:K | random:SEED (files are read by the caller). */
export function planFromSpec(spec: string, graph: ModelGraph): PartitionPlan {
  if (spec === 'edge') return edgeOnlyPlan(graph);
  if (spec === 'cloud') return cloudOnlyPlan(graph);
  if (spec === 'half') return halfPlan(graph);
  const m = /^(random|layers):(\d+)$/.exec(spec);
  if (m?.[1] === 'random') return randomPlan(graph, Number(m[2]));
  if (m?.[1] === 'layers') {
    const k = Number(m[2]);
    if (k > graph.config.nLayer) throw new InvalidPlanError(`layers:${k} exceeds the model's ${graph.config.nLayer} layers`);
    return layerSplitPlan(graph, k);
  }
  throw new InvalidPlanError(`unknown plan "${spec}" (use edge, cloud, half, layers:K, random:SEED or a .json file)`);
}
