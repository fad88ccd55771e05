// How a plan turns into work for one forward pass. The residual stream flows through 2L blocks
// (attention, FFN, per layer). The edge drives: it runs edge-owned blocks itself and hands each
// run of cloud work to the cloud in one call, a synchronisation point that costs one round trip:
//
//   edge block(s) ─▶ [cloud call: cloud-only blocks ..., optionally ending in one mixed block] ─▶ ...
//
// A mixed block (heads or chunks on both sides) needs both partial sums, so it ends a call.
// When it is the call's first block the edge computes its partial while the cloud computes its
// own; otherwise the edge computes after the reply (it needs the residual the cloud returns).
import { blockOwner, type BlockKind, type BlockOwner, type PartitionPlan } from '../plan/partition-plan.ts';

export interface BlockRef {
  /** 2*layer for attention, 2*layer+1 for the FFN. */
  index: number;
  layer: number;
  kind: BlockKind;
  owner: BlockOwner;
}

export type Step =
  /** A whole layer on the edge, in one graph call. */
  | { type: 'edge-layer'; layer: number }
  /** One block wholly on the edge. */
  | { type: 'edge-block'; block: BlockRef }
  /** Blocks [from, to] handed to the cloud: all cloud-only except possibly the last (mixed). */
  | { type: 'cloud'; from: number; to: number; blocks: BlockRef[] };

export function blocksOf(plan: PartitionPlan): BlockRef[] {
  return plan.layers.flatMap((_, layer) =>
    (['attn', 'ffn'] as const).map((kind, i) => ({ index: 2 * layer + i, layer, kind, owner: blockOwner(plan, layer, kind) })),
  );
}

export function schedule(plan: PartitionPlan): Step[] {
  const blocks = blocksOf(plan), steps: Step[] = [];
  let i = 0;
  while (i < blocks.length) {
    const b = blocks[i]!;
    if (b.owner === 'edge') {
      const next = blocks[i + 1];
      if (b.kind === 'attn' && next?.owner === 'edge') {
        steps.push({ type: 'edge-layer', layer: b.layer });
        i += 2;
      } else {
        steps.push({ type: 'edge-block', block: b });
        i += 1;
      }
      continue;
    }
    let j = i;
    while (j < blocks.length && blocks[j]!.owner === 'cloud') j++;
    const to = j < blocks.length && blocks[j]!.owner === 'mixed' ? j : j - 1;
    steps.push({ type: 'cloud', from: i, to, blocks: blocks.slice(i, to + 1) });
    i = to + 1;
  }
  return steps;
}

/** Synchronisation points (cloud calls) one forward pass makes under this plan. */
export const syncPointsPerForward = (plan: PartitionPlan): number => schedule(plan).filter((s) => s.type === 'cloud').length;
