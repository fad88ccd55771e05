// Every way of choosing a plan, behind one interface: the trained policy and the baselines.
//   edge-only            all on the edge (when it does not fit: the most leading layers that fit)
//   cloud-only           all on the cloud, fp32 (the classic offload)
//   static layer split   Neurosurgeon-style: one cut k (first k layers on the edge), fp32, chosen once
//                        for the average network and request to minimise latency
//   adaptive layer split the cut and the precision re-chosen at every decision, minimising the same
//                        drift-plus-penalty objective J as the optimum, at the measured network
//   exact optimum        J minimised over the full head/chunk space (optimum.ts)
//   policy               the trained hierarchical policy (greedy)
import type { WirePrecision } from '@splitwise/core';
import { WIRE_PRECISIONS } from '@splitwise/core';
import { decodeAction, type PolicyAction, type PolicyOutputs } from './action.ts';
import { edgeMemoryBytes, requestCost, type CostModel, type EnergyModel, type NetworkState, type PlanCounts, type RequestShape } from './cost-model.ts';
import type { DecisionState } from './features.ts';
import { evaluateObjective, type ObjectiveConfig, type QueueState } from './objective.ts';
import { edgeOnlyCounts, exactOptimum } from './optimum.ts';

export interface PlanContext {
  model: CostModel;
  energy: EnergyModel;
  objective: ObjectiveConfig;
}

export interface Decision {
  plan: PlanCounts;
  precision: WirePrecision;
}

export interface Planner {
  readonly name: string;
  decide(s: DecisionState, ctx: PlanContext): Decision | Promise<Decision>;
}

export const queueStateOf = (s: DecisionState): QueueState => ({ Q: s.Q, Ze: s.Ze, Za: s.Za, lambdaPerS: s.lambdaPerS, battery: s.battery });

/** First k layers on the edge, the rest on the cloud. */
export function layerSplitCounts(model: CostModel, k: number): PlanCounts {
  const c = edgeOnlyCounts(model.graph), { nLayer: L, nHead: H, nInner: W } = model.graph.config;
  for (let l = k; l < L; l++) {
    c.cloudHeads[l] = H;
    c.cloudWidth[l] = W;
  }
  return c;
}

const fits = (model: CostModel, plan: PlanCounts, s: DecisionState): boolean =>
  edgeMemoryBytes(model.graph, plan, s.request.prompt + s.request.gen) <= s.memoryFreeBytes;

/** The largest k <= kMax whose layer split fits the edge memory (0 = cloud-only). */
function fittingCut(model: CostModel, kMax: number, s: DecisionState): number {
  for (let k = kMax; k > 0; k--) if (fits(model, layerSplitCounts(model, k), s)) return k;
  return 0;
}

export class EdgeOnlyPlanner implements Planner {
  readonly name = 'edge-only';
  decide(s: DecisionState, { model }: PlanContext): Decision {
    return { plan: layerSplitCounts(model, fittingCut(model, model.graph.config.nLayer, s)), precision: 'fp32' };
  }
}

export class CloudOnlyPlanner implements Planner {
  readonly name = 'cloud-only';
  decide(_s: DecisionState, { model }: PlanContext): Decision {
    return { plan: layerSplitCounts(model, 0), precision: 'fp32' };
  }
}

export class StaticLayerSplitPlanner implements Planner {
  readonly name: string;
  constructor(readonly k: number) {
    this.name = `static layer split (k=${k})`;
  }

  /** Neurosurgeon: the cut with the least latency for the average request over the average network. */
  static choose(model: CostModel, net: NetworkState, req: RequestShape): StaticLayerSplitPlanner {
    let best = 0, bestMs = Infinity;
    for (let k = 0; k <= model.graph.config.nLayer; k++) {
      const ms = requestCost(model, model.compile(layerSplitCounts(model, k), 'fp32'), req, net).latencyMs;
      if (ms < bestMs) [best, bestMs] = [k, ms];
    }
    return new StaticLayerSplitPlanner(best);
  }

  decide(s: DecisionState, { model }: PlanContext): Decision {
    return { plan: layerSplitCounts(model, fittingCut(model, this.k, s)), precision: 'fp32' };
  }
}

export class AdaptiveLayerSplitPlanner implements Planner {
  readonly name = 'adaptive layer split';
  decide(s: DecisionState, { model, energy, objective }: PlanContext): Decision {
    let best: Decision | undefined, bestJ = Infinity;
    const q = queueStateOf(s);
    for (let k = 0; k <= model.graph.config.nLayer; k++) {
      const plan = layerSplitCounts(model, k);
      if (k > 0 && !fits(model, plan, s)) continue;
      for (const p of k === model.graph.config.nLayer ? (['fp32'] as const) : WIRE_PRECISIONS) {
        const J = evaluateObjective(model, model.compile(plan, p), s.request, s.net, energy, objective, q).J;
        if (J < bestJ) [best, bestJ] = [{ plan, precision: p }, J];
      }
    }
    return best!;
  }
}

export class OptimumPlanner implements Planner {
  readonly name = 'exact optimum (DP)';
  constructor(readonly maxUnits = 1500) {}
  decide(s: DecisionState, { model, energy, objective }: PlanContext): Decision {
    const r = exactOptimum(model, s.request, s.net, energy, objective, queueStateOf(s), s.memoryFreeBytes, { maxUnits: this.maxUnits });
    return { plan: r.counts, precision: r.precision };
  }
}

/** The trained policy, whatever computes its network (tfjs while training, ONNX after export, plain JS). */
export class PolicyPlanner implements Planner {
  lastAction?: PolicyAction;
  constructor(
    readonly name: string,
    private readonly outputs: (s: DecisionState) => PolicyOutputs | Promise<PolicyOutputs>,
  ) {}
  async decide(s: DecisionState, { model }: PlanContext): Promise<Decision> {
    const a = decodeAction(model.graph, await this.outputs(s), s.request, s.memoryFreeBytes);
    this.lastAction = a;
    return { plan: a.counts, precision: a.precision };
  }
}
