// The plan the page runs: a preset (edge only, cloud only, API cloud-only, first k layers on the
// edge, half), a custom head/chunk mask the person edits on the grid, or the policy's choice
// (policy-mode.ts). Also what a plan costs each side in FLOPs.
import {
  apiCloudOnlyPlan,
  cloudOnlyPlan,
  edgeOnlyPlan,
  halfPlan,
  layerSplitPlan,
  planFromSpec,
  syncPointsPerForward,
  validatePlan,
  type ModelGraph,
  type PartitionPlan,
} from '@splitwise/core';

export const PRESETS = ['edge', 'cloud', 'api', 'layers', 'half', 'custom', 'policy'] as const;
export type Preset = (typeof PRESETS)[number];

export const PRESET_LABELS: Record<Preset, string> = {
  edge: 'Edge only',
  cloud: 'Cloud only',
  api: 'API cloud-only',
  layers: 'Layer cut',
  half: 'Half',
  custom: 'Custom',
  policy: 'Policy',
};

export const PRESET_TITLES: Record<Preset, string> = {
  edge: 'The whole model in this browser; the cloud is not used',
  cloud: 'Every layer on the server; the browser keeps only the embeddings and the LM head',
  api: 'Everything on the server, as with any LLM API: this browser sends token ids and gets logits back (token ids leave this device)',
  layers: 'The first k layers on the edge, the rest on the cloud (a classic layer split)',
  half: 'Every layer split: the odd heads and FFN chunks on the cloud, the even ones here',
  custom: 'Your own placement: click cells in the map to move them',
  policy: 'The Splitwise policy decides in this browser, before each request and when the network moves',
};

export interface PlanChoice {
  preset: Preset;
  /** Layers on the edge for the 'layers' preset. */
  k: number;
  /** The custom mask (starts as a copy of whatever was shown when the person first clicked). */
  custom: PartitionPlan;
  /** The policy's last plan (the 'policy' preset); cloud only until it first decides. */
  policy?: PartitionPlan;
}

export function planOf(choice: PlanChoice, graph: ModelGraph): PartitionPlan {
  switch (choice.preset) {
    case 'edge':
      return edgeOnlyPlan(graph);
    case 'cloud':
      return cloudOnlyPlan(graph);
    case 'api':
      return apiCloudOnlyPlan(graph);
    case 'layers':
      return layerSplitPlan(graph, Math.min(Math.max(0, choice.k), graph.config.nLayer));
    case 'half':
      return halfPlan(graph);
    case 'custom':
      return validatePlan(choice.custom, graph);
    case 'policy':
      return choice.policy ? validatePlan(choice.policy, graph) : cloudOnlyPlan(graph);
  }
}

/**
 * A choice from a URL spec: edge | cloud | api | half | policy | layers:K | random:SEED (a custom
 * mask) | custom:<mask>, where the mask has one group per layer, "heads/chunks" as strings of e/c, e.g.
 * custom:ecec/eecc.eeee/cccc for two layers of four heads and four chunks.
 */
export function choiceFromSpec(spec: string, graph: ModelGraph): PlanChoice {
  const half = Math.floor(graph.config.nLayer / 2);
  if (spec === 'edge' || spec === 'cloud' || spec === 'api' || spec === 'half' || spec === 'policy') return { preset: spec, k: half, custom: halfPlan(graph) };
  const layers = /^layers:(\d+)$/.exec(spec);
  if (layers) return { preset: 'layers', k: Math.min(Number(layers[1]), graph.config.nLayer), custom: halfPlan(graph) };
  if (spec.startsWith('custom:')) return { preset: 'custom', k: half, custom: planFromMask(spec.slice(7), graph) };
  return { preset: 'custom', k: half, custom: planFromSpec(spec, graph) }; // random:SEED, or a clear error
}

/** The spec that reproduces a choice (for the URL and the test hook). */
export function specOf(choice: PlanChoice, graph: ModelGraph): string {
  if (choice.preset === 'layers') return `layers:${choice.k}`;
  if (choice.preset === 'custom') return `custom:${maskOf(validatePlan(choice.custom, graph), graph)}`;
  return choice.preset;
}

function planFromMask(mask: string, graph: ModelGraph): PartitionPlan {
  const groups = mask.split('.');
  const { nLayer } = graph.config, nHead = graph.attnUnits;
  if (groups.length !== nLayer) throw new Error(`custom plan has ${groups.length} layers; the model has ${nLayer}`);
  const cloudIdx = (s: string, n: number, what: string): number[] => {
    if (s.length !== n || /[^ec]/.test(s)) throw new Error(`custom plan: "${s}" must be ${n} letters e/c (${what})`);
    return [...s].flatMap((ch, i) => (ch === 'c' ? [i] : []));
  };
  return validatePlan(
    {
      layers: groups.map((g) => {
        const [heads = '', chunks = ''] = g.split('/');
        return { cloudHeads: cloudIdx(heads, nHead, 'attention units'), cloudFfnChunks: cloudIdx(chunks, graph.ffnChunks, 'FFN chunks') };
      }),
    },
    graph,
  );
}

function maskOf(plan: PartitionPlan, graph: ModelGraph): string {
  const letters = (n: number, cloud: number[]): string => Array.from({ length: n }, (_, i) => (cloud.includes(i) ? 'c' : 'e')).join('');
  return plan.layers.map((l) => `${letters(graph.attnUnits, l.cloudHeads)}/${letters(graph.ffnChunks, l.cloudFfnChunks)}`).join('.');
}

const toggle = (xs: number[], i: number): number[] => (xs.includes(i) ? xs.filter((x) => x !== i) : [...xs, i].sort((a, b) => a - b));

/** The same placement as a partition plan: an API cloud-only plan becomes checkpointed cloud-only (what the grid can edit). */
export function partitionOf(plan: PartitionPlan): PartitionPlan {
  const { apiCloudOnly: _api, ...placement } = plan;
  return placement;
}

/** Move one head (or FFN chunk) of layer l to the other side. */
export function toggled(plan: PartitionPlan, layer: number, kind: 'head' | 'chunk', index: number): PartitionPlan {
  return {
    ...partitionOf(plan),
    layers: plan.layers.map((l, i) =>
      i !== layer
        ? l
        : kind === 'head'
          ? { ...l, cloudHeads: toggle(l.cloudHeads, index) }
          : { ...l, cloudFfnChunks: toggle(l.cloudFfnChunks, index) },
    ),
  };
}

export interface ComputeShare {
  /** FLOPs for one decoded token at context T on each side (the LM head counts on the edge, except under API cloud-only). */
  edgeFlops: number;
  cloudFlops: number;
  /** Edge share in [0, 1]. */
  edge: number;
  /** Round trips per forward pass. */
  syncPoints: number;
}

/** Where one token's compute happens at context length T, from the model graph's cost model. */
export function computeShare(graph: ModelGraph, plan: PartitionPlan, T: number): ComputeShare {
  // API cloud-only: the embeddings and the LM head are the cloud's too
  let edgeFlops = plan.apiCloudOnly ? 0 : graph.edgeFixed.decodeFlops(T), cloudFlops = plan.apiCloudOnly ? graph.edgeFixed.decodeFlops(T) : 0;
  graph.layers.forEach((layer, l) => {
    const p = plan.layers[l]!;
    for (const h of layer.heads) {
      const f = h.cost.decodeFlops(T);
      if (p.cloudHeads.includes(h.index)) cloudFlops += f;
      else edgeFlops += f;
    }
    for (const c of layer.ffnChunks) {
      const f = c.cost.decodeFlops(T);
      if (p.cloudFfnChunks.includes(c.index)) cloudFlops += f;
      else edgeFlops += f;
    }
  });
  return { edgeFlops, cloudFlops, edge: edgeFlops / (edgeFlops + cloudFlops), syncPoints: syncPointsPerForward(plan) };
}

export function samePlan(a: PartitionPlan, b: PartitionPlan): boolean {
  // API cloud-only and checkpointed cloud-only place the layers alike but are different plans
  return JSON.stringify(a.layers) === JSON.stringify(b.layers) && Boolean(a.apiCloudOnly) === Boolean(b.apiCloudOnly);
}
