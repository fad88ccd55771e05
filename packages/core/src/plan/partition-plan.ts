// A PartitionPlan says, per layer, which attention units and which FFN chunks run on the cloud.
// An attention unit is what the model family partitions attention into: one head for GPT-2, one
// KV group (a KV head with its query heads) for LLaMA. In code the fields keep their first names
// (`nHead` = units per layer, `cloudHeads` = units on the cloud); plan files of version 2 name
// them `attnUnits` / `cloudAttnUnits`. Everything else runs on the edge, which also owns the
// embeddings, the final norm, the LM head and the residual stream at partition boundaries: token
// ids never leave the edge. The one exception is the API cloud-only plan (`apiCloudOnly`): every
// layer and also the embeddings and LM head run on the cloud, the edge sends token ids and gets
// logits back, as with any LLM API.
import { z } from 'zod';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import type { ModelGraph } from '../graph/model-graph.ts';
import { InvalidPlanError } from '../errors.ts';

export interface LayerPlacement {
  /** Sorted, unique attention-unit indices that run on the cloud. */
  cloudHeads: number[];
  /** Sorted, unique FFN chunk indices that run on the cloud. */
  cloudFfnChunks: number[];
}

export interface PartitionPlan {
  /** Attention units per layer (GPT-2: heads; LLaMA: KV groups). */
  nHead: number;
  ffnChunks: number;
  layers: LayerPlacement[];
  /**
   * API cloud-only: the embeddings, every layer (all on the cloud in `layers`) and the LM head run
   * on the cloud. The edge sends token ids and receives logits; it keeps the ids, so that a lost
   * cloud is rebuilt by sending them again. Token ids leave the edge. Absent: a partition plan.
   */
  apiCloudOnly?: true;
}

export type BlockKind = 'attn' | 'ffn';
export type BlockOwner = 'edge' | 'cloud' | 'mixed';

// Version 1 (and the in-memory form): heads by index, as GPT-2 had them.
const PlanV1Schema = z.strictObject({
  version: z.literal(1).optional(),
  nHead: z.number().int().positive().optional(),
  ffnChunks: z.number().int().positive().optional(),
  apiCloudOnly: z.literal(true).optional(),
  layers: z.array(
    z.strictObject({
      cloudHeads: z.array(z.number().int()),
      cloudFfnChunks: z.array(z.number().int()),
    }),
  ),
});

// Version 2 names what it places: attention units of a family (heads or KV groups) and FFN chunks.
const PlanV2Schema = z.strictObject({
  version: z.literal(2),
  family: z.string().optional(),
  attnUnit: z.enum(['head', 'kv-group']).optional(),
  attnUnits: z.number().int().positive().optional(),
  ffnChunks: z.number().int().positive().optional(),
  apiCloudOnly: z.literal(true).optional(),
  layers: z.array(
    z.strictObject({
      cloudAttnUnits: z.array(z.number().int()),
      cloudFfnChunks: z.array(z.number().int()),
    }),
  ),
});

/** What an attention unit is in this graph, as plan files name it. */
export const attnUnitKind = (graph: ModelGraph): 'head' | 'kv-group' => (graph.queryHeadsPerUnit === 1 && graph.config.family === 'gpt2' ? 'head' : 'kv-group');

function parsePlanJson(input: unknown, graph: ModelGraph): z.infer<typeof PlanV1Schema> {
  const v2 = typeof input === 'object' && input !== null && (input as { version?: unknown }).version === 2;
  const parsed = v2 ? PlanV2Schema.safeParse(input) : PlanV1Schema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new InvalidPlanError(`malformed partition plan: ${issues}`);
  }
  if (v2) {
    const p = parsed.data as z.infer<typeof PlanV2Schema>;
    if (p.family !== undefined && p.family !== graph.config.family) {
      throw new InvalidPlanError(`plan is for the ${p.family} family; the model is ${graph.config.family}`);
    }
    if (p.attnUnit !== undefined && p.attnUnit !== attnUnitKind(graph)) {
      throw new InvalidPlanError(`plan places attention by ${p.attnUnit}; this model's attention unit is a ${attnUnitKind(graph)}`);
    }
    return {
      ...(p.attnUnits !== undefined ? { nHead: p.attnUnits } : {}),
      ...(p.ffnChunks !== undefined ? { ffnChunks: p.ffnChunks } : {}),
      ...(p.apiCloudOnly ? { apiCloudOnly: true as const } : {}),
      layers: p.layers.map((l) => ({ cloudHeads: l.cloudAttnUnits, cloudFfnChunks: l.cloudFfnChunks })),
    };
  }
  return parsed.data as z.infer<typeof PlanV1Schema>;
}

/** Validate a plan (from JSON of either version, or code) against the model graph; returns a normalised copy. */
export function validatePlan(input: unknown, graph: ModelGraph): PartitionPlan {
  const p = parsePlanJson(input, graph);
  const { nLayer } = graph.config, nHead = graph.attnUnits, unit = attnUnitKind(graph) === 'head' ? 'heads' : 'attention units (KV groups)';
  if (p.layers.length !== nLayer) {
    throw new InvalidPlanError(`plan has ${p.layers.length} layers; the model has ${nLayer}`);
  }
  if (p.nHead !== undefined && p.nHead !== nHead) {
    throw new InvalidPlanError(`plan is for ${p.nHead} ${unit} per layer; the model has ${nHead}`);
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
  const plan: PartitionPlan = {
    nHead,
    ffnChunks: graph.ffnChunks,
    layers: p.layers.map((layer, l) => ({
      cloudHeads: check(layer.cloudHeads, nHead, attnUnitKind(graph) === 'head' ? 'head' : 'attention unit', l),
      cloudFfnChunks: check(layer.cloudFfnChunks, graph.ffnChunks, 'FFN chunk', l),
    })),
  };
  if (p.apiCloudOnly) {
    // the cloud runs whole layers from the ids it is sent: nothing of a layer can stay on the edge
    const partial = plan.layers.findIndex((l) => l.cloudHeads.length !== nHead || l.cloudFfnChunks.length !== graph.ffnChunks);
    if (partial >= 0) throw new InvalidPlanError(`an API cloud-only plan runs every layer on the cloud; layer ${partial} keeps part of itself on the edge`);
    plan.apiCloudOnly = true;
  }
  return plan;
}

/** True for the API cloud-only plan: the edge sends token ids, the cloud runs everything. */
export const isApiCloudOnly = (plan: PartitionPlan): boolean => plan.apiCloudOnly === true;

/** The JSON form written to plan files (`--plan FILE.json`): version 2, which names its units. */
export function planToJson(plan: PartitionPlan, graph?: ModelGraph): object {
  return {
    version: 2,
    ...(graph ? { family: graph.config.family, attnUnit: attnUnitKind(graph) } : {}),
    attnUnits: plan.nHead,
    ffnChunks: plan.ffnChunks,
    ...(plan.apiCloudOnly ? { apiCloudOnly: true } : {}),
    layers: plan.layers.map((l) => ({ cloudAttnUnits: l.cloudHeads, cloudFfnChunks: l.cloudFfnChunks })),
  };
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

function uniform(graph: ModelGraph, cloud: (l: number) => boolean): PartitionPlan {
  const { nLayer } = graph.config, nHead = graph.attnUnits;
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
/** API cloud-only: token ids up, logits down; the embeddings, every layer and the LM head on the cloud. */
export const apiCloudOnlyPlan = (graph: ModelGraph): PartitionPlan => ({ ...uniform(graph, () => true), apiCloudOnly: true });
/** Neurosurgeon-style layer cut: the first k layers on the edge, the rest on the cloud. */
export const layerSplitPlan = (graph: ModelGraph, k: number): PartitionPlan => uniform(graph, (l) => l >= k);

/** Half of every layer's heads and chunks on each side (the odd ones on the cloud). */
export function halfPlan(graph: ModelGraph): PartitionPlan {
  const { nLayer } = graph.config, nHead = graph.attnUnits;
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
  const { nLayer } = graph.config, nHead = graph.attnUnits;
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

/** Parse the CLI's --plan argument: edge | cloud | api | half | layers:K | random:SEED (files are read by the caller). */
export function planFromSpec(spec: string, graph: ModelGraph): PartitionPlan {
  if (spec === 'edge') return edgeOnlyPlan(graph);
  if (spec === 'cloud') return cloudOnlyPlan(graph);
  if (spec === 'api') return apiCloudOnlyPlan(graph);
  if (spec === 'half') return halfPlan(graph);
  const m = /^(random|layers):(\d+)$/.exec(spec);
  if (m?.[1] === 'random') return randomPlan(graph, Number(m[2]));
  if (m?.[1] === 'layers') {
    const k = Number(m[2]);
    if (k > graph.config.nLayer) throw new InvalidPlanError(`layers:${k} exceeds the model's ${graph.config.nLayer} layers`);
    return layerSplitPlan(graph, k);
  }
  throw new InvalidPlanError(`unknown plan "${spec}" (use edge, cloud, api, half, layers:K, random:SEED or a .json file)`);
}
