// Version 3 of the learned policy (issue 10): Lyapunov-assisted learning of the price of change.
//
// The per-decision drift-plus-penalty solver already finds the best plan for one request (J,
// objective.ts; exactly, over heads and chunks, optimum.ts). What it cannot see is the future: a
// plan change costs weights re-loaded and layers re-set up (dynamics.ts), and whether that pays
// depends on how long the new plan will stay right, which the network's and the cloud's history
// hint at. So the learned part does not choose the plan. It chooses one number per decision, the
// price multiplier mu of a plan change, and the solver returns
//
//     argmin over candidates c of  J(c) + mu * switchJ(current -> c)
//
// over the candidates: every layer cut x wire precision that fits, the plan in place, the exact
// per-decision optimum (the DP) and, unless the context forbids it, API cloud-only. mu = 0 is the exact optimum itself; mu = 1 is the switch-priced
// DPP rule (SwitchAwarePlanner, H = 1); large mu keeps the plan in place. Without a plan in place
// (no switching costs) every mu gives the exact optimum, so per decision this policy is never worse
// than the exact optimum by construction; where plans persist it learns when to hold and when to
// move. The selector is a small MLP over the version-2 features (features.ts), trained by
// evolution strategies on the episode's drift-plus-penalty reward (scripts/train-price-policy.ts).
import type { RuntimeAdapter, RuntimeSession, WirePrecision } from '@splitwise/core';
import { WIRE_PRECISIONS, f32 } from '@splitwise/core';
import { GraphBuilder } from '@splitwise/onnx-graphs';
import { evaluateObjective, objectiveCoefficients } from './objective.ts';
import type { PlanCounts } from './cost-model.ts';
import { allWeightsResident, modelFor, switchCost, type SwitchingCostOptions } from './dynamics.ts';
import { featureVectorV2, FEATURE_DIM_V2, type DecisionState } from './features.ts';
import type { Dense } from './network.ts';
import { apiCandidate, layerSplitCounts, optimumAt, queueStateOf, type Decision, type PlanContext, type Planner } from './planners.ts';
import { modelFootprint } from './policy-runner.ts';
import { denseForward } from './cut-policy.ts';

/** The prices of change the selector chooses among (multiples of the switch's cost in J's units). */
export const PRICE_MULTIPLIERS = [0, 0.5, 1, 2, 4, 16] as const;
export const PRICE_POLICY_IO = { input: 'features', output: 'price_logits' } as const;

export interface PricedDecision extends Decision {
  /** The score J + mu * switchJ of the chosen candidate, and which kind of candidate won. */
  score: number;
  source: 'exact' | 'layer' | 'in-place' | 'api';
}

/**
 * The solver: the candidate with the least J + mu * switchJ. `exact` adds the DP's plan (skipped
 * while training, where it costs most of the time and, for gpt2-xl on a Pi 5, coincides with the
 * best layer cut; docs/POLICY.md section 7).
 */
export function pricedDecision(s: DecisionState, ctx: PlanContext, mu: number, switching: SwitchingCostOptions | undefined, exact = true): PricedDecision {
  const { energy, objective } = ctx, model = modelFor(ctx.model, s), net = s.net, q = queueStateOf(s);
  const { cL, cE } = objectiveCoefficients(objective, q, s.request.gen);
  const ctxRows = s.request.prompt + s.request.gen;
  const resident = allWeightsResident(ctx.model, s.memoryFreeBytes, ctxRows);
  const fits = (plan: PlanCounts): boolean => model.edgeMemoryBytes(plan, ctxRows) <= s.memoryFreeBytes;
  const swJ = (plan: PlanCounts, p: WirePrecision): number => {
    if (!switching || !s.current || mu === 0) return 0;
    const sw = switchCost(ctx.model, s.current.counts, { counts: plan, precision: p }, switching, net, energy, s.kvRows ?? 0, resident, s.cloud?.slowdown ?? 1);
    return (cL * sw.ms) / 1000 + cE * sw.energyJ;
  };
  let best: PricedDecision | undefined;
  const consider = (plan: PlanCounts, p: WirePrecision, source: PricedDecision['source'], J?: number): void => {
    const j = J ?? evaluateObjective(model, model.compile(plan, p), s.request, net, energy, objective, q).J;
    const score = j + mu * swJ(plan, p);
    if (!best || score < best.score) best = { plan, precision: p, score, source };
  };
  // the exact optimum first, so that it wins ties (with mu = 0 the result is exactly the DP's)
  if (exact) {
    const r = optimumAt(s, ctx);
    consider(r.counts, r.precision, 'exact');
  }
  const L = model.graph.config.nLayer;
  for (let k = 0; k <= L; k++) {
    const plan = layerSplitCounts(model, k);
    if (k > 0 && !fits(plan)) continue;
    for (const p of k === L ? (['fp32'] as const) : WIRE_PRECISIONS) consider(plan, p, 'layer');
  }
  if (s.current && fits(s.current.counts)) consider(s.current.counts, s.current.precision, 'in-place');
  const api = apiCandidate(s, ctx);
  if (api) consider(api.plan, api.precision, 'api', api.J);
  return best!;
}

/** A fixed price of change (mu constant): mu = 1 is the switch-priced DPP rule over the enlarged candidate set. */
export class FixedPricePlanner implements Planner {
  readonly name: string;
  constructor(
    readonly mu: number,
    readonly switching: SwitchingCostOptions | undefined,
    readonly exact = true,
  ) {
    this.name = `DPP exact + switch price x${mu}`;
  }
  decide(s: DecisionState, ctx: PlanContext): Decision {
    return pricedDecision(s, ctx, this.mu, this.switching, this.exact);
  }
}

// ---- the selector network: features -> tanh(hidden) -> price logits ----

export interface PricePolicyWeights {
  featureDim: number;
  hidden: number;
  l1: Dense;
  out: Dense;
}


/** The network in plain JavaScript (the reference the ONNX graph is tested against). */
export const priceForwardJs = (w: PricePolicyWeights, x: ArrayLike<number>): Float32Array => denseForward(w.out, denseForward(w.l1, x, true), false);

export const argmax = (xs: ArrayLike<number>): number => {
  let b = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[b]!) b = i;
  return b;
};

export function buildPricePolicyOnnx(w: PricePolicyWeights): Uint8Array {
  const b = new GraphBuilder('splitwise_price_policy_v3');
  const gemm = (x: string, d: Dense, name: string): string =>
    b.op('Gemm', [x, b.initializer(`${name}.w`, [d.inDim, d.outDim], d.w), b.initializer(`${name}.b`, [d.outDim], d.b)]);
  const x = b.input(PRICE_POLICY_IO.input, 'float32', ['B', w.featureDim]);
  b.output(gemm(b.op('Tanh', [gemm(x, w.l1, 'l1')]), w.out, 'out'), PRICE_POLICY_IO.output, 'float32', ['B', PRICE_MULTIPLIERS.length]);
  return b.toBytes();
}

const denseJson = (d: Dense) => ({ inDim: d.inDim, outDim: d.outDim, w: Array.from(d.w), b: Array.from(d.b) });
export const priceWeightsToJson = (w: PricePolicyWeights) => ({ version: 3, prices: [...PRICE_MULTIPLIERS], featureDim: w.featureDim, hidden: w.hidden, l1: denseJson(w.l1), out: denseJson(w.out) });
export function priceWeightsFromJson(j: ReturnType<typeof priceWeightsToJson>): PricePolicyWeights {
  if (j.version !== 3 || j.featureDim !== FEATURE_DIM_V2 || j.out.outDim !== PRICE_MULTIPLIERS.length) throw new Error('not a version-3 price policy for this feature vector');
  const d = (x: { inDim: number; outDim: number; w: number[]; b: number[] }): Dense => ({ inDim: x.inDim, outDim: x.outDim, w: Float32Array.from(x.w), b: Float32Array.from(x.b) });
  return { featureDim: j.featureDim, hidden: j.hidden, l1: d(j.l1), out: d(j.out) };
}

/** The exported selector on any RuntimeAdapter (onnxruntime-node, onnxruntime-web). */
export class PricePolicyRunner {
  private constructor(
    private readonly session: RuntimeSession,
    private readonly footprint: number,
  ) {}

  static async create(runtime: RuntimeAdapter, onnx: Uint8Array, graph: Parameters<typeof modelFootprint>[0]): Promise<PricePolicyRunner> {
    return new PricePolicyRunner(await runtime.createSession(onnx, 'price-policy'), modelFootprint(graph));
  }

  features(s: DecisionState): Float32Array {
    return featureVectorV2(s, this.footprint);
  }

  /** Logits for a batch of feature vectors [B * FEATURE_DIM_V2]. */
  async logits(features: Float32Array): Promise<Float32Array[]> {
    const B = features.length / FEATURE_DIM_V2, C = PRICE_MULTIPLIERS.length;
    const r = await this.session.run({ [PRICE_POLICY_IO.input]: f32(features, [B, FEATURE_DIM_V2]) });
    const t = r[PRICE_POLICY_IO.output];
    if (!t || t.dtype !== 'float32' || t.data.length !== B * C) throw new Error(`the price policy's output is not [${B}, ${C}]`);
    return Array.from({ length: B }, (_, i) => t.data.slice(i * C, (i + 1) * C));
  }

  async price(s: DecisionState): Promise<number> {
    const [l] = await this.logits(this.features(s));
    return PRICE_MULTIPLIERS[argmax(l!)]!;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** The version-3 learned policy as a Planner: the selector's price, then the solver. */
export class PricePolicyPlanner implements Planner {
  lastPrice = 1;
  constructor(
    readonly name: string,
    private readonly price: (s: DecisionState) => number | Promise<number>,
    readonly switching: SwitchingCostOptions | undefined,
    readonly exact = true,
  ) {}
  async decide(s: DecisionState, ctx: PlanContext): Promise<Decision> {
    this.lastPrice = await this.price(s);
    return pricedDecision(s, ctx, this.lastPrice, this.switching, this.exact);
  }
}
