// Every way of choosing a plan, behind one interface: the trained policy and the baselines.
//   edge-only             all on the edge (when it does not fit: the most leading layers that fit,
//                         the rest on the cloud at the wire precision with the least J)
//   cloud-only            all on the cloud (the edge keeps embeddings and LM head and ships the
//                         partition checkpoint), at the wire precision with the least J per decision
//   API cloud-only        as any LLM API: token ids up, the cloud runs the embeddings, every layer
//                         and the LM head, the logits the sampler reads come down (greedy: one)
//   static layer split    one cut k (first k layers on the edge) AND one wire precision, chosen once
//                         per scenario family by simulating every (k, precision) on that family's
//                         training episodes and keeping the least mean end-to-end latency, or the
//                         best mean objective (StaticLayerSplitPlanner.fit / pick); never re-chosen,
//                         never looks at the test set
//   Lyapunov DPP (layer)  the textbook drift-plus-penalty rule with no learning: at every decision,
//                         the cut and precision minimising V*penalty + Q*lambda*service + Z_e*energy
//                         + Z_a*accuracy (objective.ts J) at the measured network, over layer cuts x
//                         precisions. It is the "adaptive layer split" of earlier versions: same rule.
//   Lyapunov DPP (exact)  the same rule over the full head/chunk space (optimum.ts)
//   DPP + switching       the DPP layer rule plus the cost of changing the plan, amortised over a
//                         horizon of requests (hysteresis; issue 10, with dynamics.ts)
//   policy                the trained hierarchical policy (greedy)
import type { WirePrecision } from '@splitwise/core';
import { WIRE_PRECISIONS } from '@splitwise/core';
import { decodeAction, type PolicyAction, type PolicyOutputs } from './action.ts';
import { apiCloudOnlyCounts, requestCost, type CostModel, type EnergyModel, type NetworkState, type PlanCounts, type RequestShape } from './cost-model.ts';
import type { DecisionState } from './features.ts';
import { evaluateObjective, objectiveCoefficients, type ObjectiveConfig, type QueueState } from './objective.ts';
import { allWeightsResident, expectedSlowdown, modelFor, switchCost, type ContentionOptions, type SwitchingCostOptions } from './dynamics.ts';
import { edgeOnlyCounts, exactOptimum } from './optimum.ts';

export interface PlanContext {
  model: CostModel;
  energy: EnergyModel;
  objective: ObjectiveConfig;
  /**
   * May the DPP planners choose API cloud-only (token ids leave the device; the cloud runs the whole
   * model)? It is one more plan the engine runs, so by default they may; a user who keeps token ids
   * on the device says no (the page's ?ids=keep).
   */
  allowApi?: boolean;
}

/** The API cloud-only plan and its J at this decision, when the context allows it (else undefined). */
export function apiCandidate(s: DecisionState, ctx: PlanContext): { plan: PlanCounts; precision: WirePrecision; J: number } | undefined {
  if (ctx.allowApi === false) return undefined;
  const model = modelFor(ctx.model, s), plan = apiCloudOnlyCounts(model.graph);
  return { plan, precision: 'fp32', J: evaluateObjective(model, model.compile(plan, 'fp32'), s.request, s.net, ctx.energy, ctx.objective, queueStateOf(s)).J };
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
  const c = edgeOnlyCounts(model.graph), { nLayer: L, nInner: W } = model.graph.config, H = model.graph.attnUnits;
  for (let l = k; l < L; l++) {
    c.cloudHeads[l] = H;
    c.cloudWidth[l] = W;
  }
  return c;
}

const fits = (model: CostModel, plan: PlanCounts, s: DecisionState): boolean =>
  model.edgeMemoryBytes(plan, s.request.prompt + s.request.gen) <= s.memoryFreeBytes;

/** The largest k <= kMax whose layer split fits the edge memory (0 = cloud-only). */
function fittingCut(model: CostModel, kMax: number, s: DecisionState): number {
  for (let k = kMax; k > 0; k--) if (fits(model, layerSplitCounts(model, k), s)) return k;
  return 0;
}

/** The wire precision with the least J for a plan at this decision (fp32 when nothing crosses the wire). */
export function bestPrecision(plan: PlanCounts, s: DecisionState, ctx: PlanContext): { precision: WirePrecision; J: number } {
  const { energy, objective } = ctx, model = modelFor(ctx.model, s);
  const q = queueStateOf(s);
  const usesCloud = plan.cloudHeads.some((x) => x > 0) || plan.cloudWidth.some((x) => x > 0);
  let best: { precision: WirePrecision; J: number } = { precision: 'fp32', J: Infinity };
  for (const p of usesCloud ? WIRE_PRECISIONS : (['fp32'] as const)) {
    const J = evaluateObjective(model, model.compile(plan, p), s.request, s.net, energy, objective, q).J;
    if (J < best.J) best = { precision: p, J };
  }
  return best;
}

export class EdgeOnlyPlanner implements Planner {
  readonly name = 'edge-only';
  decide(s: DecisionState, ctx: PlanContext): Decision {
    const plan = layerSplitCounts(ctx.model, fittingCut(ctx.model, ctx.model.graph.config.nLayer, s));
    return { plan, precision: bestPrecision(plan, s, ctx).precision };
  }
}

/** Cloud-only (checkpointed): `precision` fixes the wire precision; 'best' picks the least J per decision. */
export class CloudOnlyPlanner implements Planner {
  readonly name: string;
  constructor(readonly precision: WirePrecision | 'best' = 'best') {
    this.name = precision === 'best' ? 'cloud-only' : `cloud-only (${precision})`;
  }
  decide(s: DecisionState, ctx: PlanContext): Decision {
    const plan = layerSplitCounts(ctx.model, 0);
    return { plan, precision: this.precision === 'best' ? bestPrecision(plan, s, ctx).precision : this.precision };
  }
}

/**
 * API cloud-only, as any LLM API serves: every decision sends the token ids and lets the cloud run
 * the whole model (core's apiCloudOnlyPlan; the cost model prices ids up, the logits down, and no
 * edge compute). Its wire precision is moot (nothing quantised crosses): fp32.
 */
export class ApiCloudOnlyPlanner implements Planner {
  readonly name = 'API cloud-only';
  decide(_s: DecisionState, { model }: PlanContext): Decision {
    return { plan: apiCloudOnlyCounts(model.graph), precision: 'fp32' };
  }
}

/** What StaticLayerSplitPlanner.fit measured for one candidate on the training episodes. */
export interface StaticCandidate {
  k: number;
  precision: WirePrecision;
  meanLatencyS: number;
  meanServiceS: number;
  /** Mean reward -(drift + V penalty): the objective, budgets included through the virtual queues. */
  meanReward: number;
}

/** Which mean over the training episodes a static split is fitted by. */
export type StaticCriterion = 'latency' | 'objective';

export class StaticLayerSplitPlanner implements Planner {
  readonly name: string;
  /** Every candidate tried by fit(), best first by the criterion (empty when constructed directly). */
  candidates: StaticCandidate[] = [];
  constructor(
    readonly k: number,
    readonly precision: WirePrecision = 'fp32',
    readonly criterion?: StaticCriterion,
  ) {
    this.name = k === -1 ? `static split (API cloud-only${criterion ? `, by ${criterion}` : ''})` : `static split (k=${k}, ${precision}${criterion ? `, by ${criterion}` : ''})`;
  }

  /**
   * Every cut k = 0..L and every wire precision (only fp32 for k = L, where nothing crosses), each
   * run through `simulate` (a family's training episodes). `cuts` may thin the cuts (0 and L are
   * always tried).
   */
  static async candidatesOf(
    model: CostModel,
    simulate: (p: Planner) => Promise<{ meanLatencyS: number; meanServiceS: number; meanReward: number }>,
    cuts?: readonly number[],
  ): Promise<StaticCandidate[]> {
    const L = model.graph.config.nLayer;
    // k = -1: the cut before the embeddings, API cloud-only (token ids up)
    const ks = [...new Set([-1, 0, L, ...(cuts ?? Array.from({ length: L + 1 }, (_, k) => k))])].sort((a, b) => a - b);
    const out: StaticCandidate[] = [];
    for (const k of ks) {
      for (const p of k === L || k === -1 ? (['fp32'] as const) : WIRE_PRECISIONS) {
        const r = await simulate(new StaticLayerSplitPlanner(k, p));
        out.push({ k, precision: p, meanLatencyS: r.meanLatencyS, meanServiceS: r.meanServiceS, meanReward: r.meanReward });
      }
    }
    return out;
  }

  /** The candidate with the least mean latency, or the greatest mean reward (the objective). */
  static pick(candidates: readonly StaticCandidate[], criterion: StaticCriterion): StaticLayerSplitPlanner {
    const sorted = [...candidates].sort((a, b) => (criterion === 'latency' ? a.meanLatencyS - b.meanLatencyS : b.meanReward - a.meanReward));
    const best = new StaticLayerSplitPlanner(sorted[0]!.k, sorted[0]!.precision, criterion);
    best.candidates = sorted;
    return best;
  }

  /** The static split a careful reviewer would pick: every (k, precision) simulated, the least mean latency kept. */
  static async fit(
    model: CostModel,
    simulate: (p: Planner) => Promise<{ meanLatencyS: number; meanServiceS: number; meanReward: number }>,
    criterion: StaticCriterion = 'latency',
    cuts?: readonly number[],
  ): Promise<StaticLayerSplitPlanner> {
    return StaticLayerSplitPlanner.pick(await StaticLayerSplitPlanner.candidatesOf(model, simulate, cuts), criterion);
  }

  /** Neurosurgeon's rule (kept for comparison): least latency for one average request and network, fp32. */
  static choose(model: CostModel, net: NetworkState, req: RequestShape): StaticLayerSplitPlanner {
    let best = 0, bestMs = Infinity;
    for (let k = 0; k <= model.graph.config.nLayer; k++) {
      const ms = requestCost(model, model.compile(layerSplitCounts(model, k), 'fp32'), req, net).latencyMs;
      if (ms < bestMs) [best, bestMs] = [k, ms];
    }
    return new StaticLayerSplitPlanner(best);
  }

  decide(s: DecisionState, { model }: PlanContext): Decision {
    if (this.k === -1) return { plan: apiCloudOnlyCounts(model.graph), precision: 'fp32' };
    // fewer leading layers when the episode's free memory is short (the cut is all that adapts)
    return { plan: layerSplitCounts(model, fittingCut(model, this.k, s)), precision: this.precision };
  }
}

/**
 * Lyapunov drift-plus-penalty over layer cuts x wire precisions: at every decision, the (k, p) with
 * the least J (objective.ts) at the measured network and queues. No learning. Its name stays
 * "adaptive layer split" (the policy was cloned from it; the name is in the training logs).
 */
export class AdaptiveLayerSplitPlanner implements Planner {
  readonly name = 'adaptive layer split';
  decide(s: DecisionState, ctx: PlanContext): Decision {
    // with a contended cloud (opt-in), priced at the load the server reports now
    const { energy, objective } = ctx, model = modelFor(ctx.model, s);
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
    // the cut before the embeddings: token ids up, the whole model on the cloud
    const api = apiCandidate(s, ctx);
    if (api && api.J < bestJ) best = { plan: api.plan, precision: api.precision };
    return best!;
  }
}

const optimumMemo = new WeakMap<CostModel, Map<string, ReturnType<typeof exactOptimum>>>();
/**
 * The exact optimum of J at this decision (optimum.ts). The DP is a pure function of what it is
 * given, so results are remembered per cost model (a bounded memo): planners that walk the same
 * states (an evaluation runs several on the same seeds) solve each state once.
 */
export function optimumAt(s: DecisionState, ctx: PlanContext): { counts: PlanCounts; precision: WirePrecision; J: number } {
  let memo = optimumMemo.get(ctx.model);
  if (!memo) optimumMemo.set(ctx.model, (memo = new Map()));
  const q = queueStateOf(s);
  const key = JSON.stringify([s.request, s.net, ctx.energy, ctx.objective, q, s.memoryFreeBytes, s.cloud?.slowdown ?? 1]);
  let r = memo.get(key);
  if (!r) {
    r = exactOptimum(modelFor(ctx.model, s), s.request, s.net, ctx.energy, ctx.objective, q, s.memoryFreeBytes);
    if (memo.size >= 20_000) memo.clear();
    memo.set(key, r);
  }
  // the DP covers every split of the layers; API cloud-only (ids up, the whole model on the cloud) is the one plan outside it
  const api = apiCandidate(s, ctx);
  return api && api.J < r.J ? { counts: api.plan, precision: api.precision, J: api.J } : r;
}

/** Lyapunov drift-plus-penalty over the full head/chunk space (and API cloud-only): the exact per-decision optimum of J. */
export class OptimumPlanner implements Planner {
  readonly name = 'exact optimum (DP)';
  decide(s: DecisionState, ctx: PlanContext): Decision {
    const r = optimumAt(s, ctx);
    return { plan: r.counts, precision: r.precision };
  }
}

/**
 * The decision state with the cloud's reported slowdown replaced by the slowdown expected over the
 * request (dynamics.ts expectedSlowdown, from the load process's published statistics); the horizon
 * is the request's duration served cloud-only at the load reported now. Unchanged without a report.
 */
export function withLoadForecast(s: DecisionState, model: CostModel, o: ContentionOptions, net: NetworkState = s.net): DecisionState {
  if (!s.cloud) return s;
  const now = modelFor(model, s);
  const T = requestCost(now, now.compile(layerSplitCounts(now, 0), 'int8'), s.request, net).latencyMs / 1000;
  return { ...s, cloud: { ...s.cloud, slowdown: expectedSlowdown(s.cloud.load, o, T) } };
}

/** Any planner, deciding on the load forecast instead of the load reported now (withLoadForecast). */
export class LoadForecastPlanner implements Planner {
  readonly name: string;
  constructor(
    readonly inner: Planner,
    readonly loadModel: ContentionOptions,
  ) {
    this.name = `${inner.name}, load forecast`;
  }
  decide(s: DecisionState, ctx: PlanContext): Decision | Promise<Decision> {
    return this.inner.decide(withLoadForecast(s, ctx.model, this.loadModel), ctx);
  }
}

/**
 * Lyapunov DPP over layer cuts x precisions with switching costs and hysteresis (issue 10): the
 * per-decision J of every candidate (as AdaptiveLayerSplitPlanner, at the cloud load the server
 * reports), plus the cost of moving to it from the plan in place (dynamics.ts switchCost, in J's
 * units: its seconds at J's latency weight, its joules at J's energy weight) divided by `horizon`,
 * the number of requests a new plan is expected to serve. Switching is worth it only when the
 * saving per request over that horizon exceeds the switching cost. With `smooth`, the network is
 * the geometric mean of the current measurement and its history (what the next requests will see,
 * rather than this second's noisy sample). Without a plan in place (no dynamics) it is exactly
 * the DPP layer rule (with smooth false).
 *
 * With `loadModel` (the cloud load process's published statistics) and a reported load, the cloud
 * is priced at the load expected over the request (mean reversion and the convexity of
 * 1 / (1 - rho): expectedSlowdown), not at this second's figure.
 */
export class SwitchAwarePlanner implements Planner {
  readonly name: string;
  constructor(
    readonly switching: SwitchingCostOptions,
    readonly horizon = 4,
    readonly smooth = false,
    readonly loadModel?: ContentionOptions,
  ) {
    this.name = `DPP + switching (H=${horizon}${smooth ? ', smoothed net' : ''}${loadModel ? ', load forecast' : ''})`;
  }

  /** The cost model to price with: the cloud at the load expected over the request when a load model is given. */
  private modelAt(s: DecisionState, ctx: PlanContext, net: NetworkState): CostModel {
    return modelFor(ctx.model, this.loadModel ? withLoadForecast(s, ctx.model, this.loadModel, net) : s);
  }

  /** The network estimate the planner prices with. */
  network(s: DecisionState): NetworkState {
    if (!this.smooth) return s.net;
    const xs = [...s.netHistory.slice(-4), s.net];
    const g = (f: (n: NetworkState) => number): number => Math.exp(xs.reduce((a, n) => a + Math.log(Math.max(1e-6, f(n))), 0) / xs.length);
    return { downMbps: g((n) => n.downMbps), upMbps: g((n) => n.upMbps), rttMs: g((n) => n.rttMs) };
  }

  decide(s: DecisionState, ctx: PlanContext): Decision {
    const { energy, objective } = ctx, net = this.network(s), model = this.modelAt(s, ctx, net);
    const q = queueStateOf(s), { cL, cE } = objectiveCoefficients(objective, q, s.request.gen);
    const resident = allWeightsResident(ctx.model, s.memoryFreeBytes, s.request.prompt + s.request.gen);
    let best: Decision | undefined, bestScore = Infinity;
    const swJOf = (p: WirePrecision, plan: PlanCounts): number => {
      const sw = switchCost(ctx.model, s.current?.counts, { counts: plan, precision: p }, this.switching, net, energy, s.kvRows ?? 0, resident, s.cloud?.slowdown ?? 1);
      return (cL * sw.ms) / 1000 + cE * sw.energyJ;
    };
    for (let k = 0; k <= model.graph.config.nLayer; k++) {
      const plan = layerSplitCounts(model, k);
      if (k > 0 && !fits(model, plan, s)) continue;
      // the switch's price depends on the precision only through the KV rows sent up mid-answer
      const sw0 = (s.kvRows ?? 0) > 0 ? undefined : swJOf('fp32', plan);
      for (const p of k === model.graph.config.nLayer ? (['fp32'] as const) : WIRE_PRECISIONS) {
        const swJ = sw0 ?? swJOf(p, plan);
        const J = evaluateObjective(model, model.compile(plan, p), s.request, net, energy, objective, q).J;
        const score = J + swJ / this.horizon;
        if (score < bestScore) [best, bestScore] = [{ plan, precision: p }, score];
      }
    }
    if (ctx.allowApi !== false) {
      const plan = apiCloudOnlyCounts(model.graph);
      const score = evaluateObjective(model, model.compile(plan, 'fp32'), s.request, net, energy, objective, q).J + swJOf('fp32', plan) / this.horizon;
      if (score < bestScore) best = { plan, precision: 'fp32' };
    }
    return best!;
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
