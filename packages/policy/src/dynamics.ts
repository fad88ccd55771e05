// What the per-decision optimum cannot see (issue 10): the cost of changing the plan, and a cloud
// that serves many edges. Both are opt-in (`EnvConfig.dynamics`); without them the simulator, the
// planners and the shipped policies see exactly what they saw before.
//
// Switching costs. When the plan changes, the side that gains units must hold their weights and
// their KV cache:
//   - the edge loads the weights of units it gains, from storage into its runtime, at
//     `edgeLoadMBps` (0 when the whole model's weights fit its free memory: it never dropped them);
//   - the cloud gathers the weights of the units it gains into new arrays, at `cloudGatherMsPerByte`
//     (the cost model's measured gather: profiles/link-overhead-node.json, in-process fit);
//   - each layer whose split changes gets new sessions (`perLayerSetupMs`);
//   - with P rows already in the KV cache (a mid-answer change: core's EdgeExecutor.setPlan), the
//     checkpoint rows of every layer where the cloud gains heads go up at the wire precision, and the
//     side that gains heads recomputes their KV over P rows (a prefill of P rows for those heads);
//     a cloud change is one message: one RTT.
// Between requests the engine resets (a new sequence), so P = 0 there and only the weights move.
//
// Cloud contention. The cloud's load rho(t) in [0, maxLoad] is an Ornstein-Uhlenbeck process in
// logit space (mean `meanLoad`, time constant `tauS`: load persists for minutes). The cloud shares
// its cores between the edges it serves (processor sharing), so every cloud kernel takes
// 1 / (1 - rho) times its unloaded time (the M/M/1-PS slowdown). The server can report its load,
// so the edge sees it (with noise) in DecisionState.cloud.
import type { WirePrecision } from '@splitwise/core';
import { CostModel, ffnBytes, type EnergyModel, type NetworkState, type PlanCounts } from './cost-model.ts';
import { atPrecision } from './weights.ts';
import type { DecisionState } from './features.ts';
import type { DeviceProfile } from './profile.ts';
import { KERNEL_KINDS } from './profile.ts';
import type { Rng } from './rng.ts';

export interface SwitchingCostOptions {
  /** Rate at which the edge loads weights it gains (storage into the runtime), MB/s. */
  edgeLoadMBps: number;
  /** ms per byte the cloud spends gathering the weights of units it gains. */
  cloudGatherMsPerByte: number;
  /** Session setup per layer whose split changes, ms. */
  perLayerSetupMs: number;
}

export interface ContentionOptions {
  /** Long-run mean of the cloud's load rho (utilisation by other edges). */
  meanLoad: number;
  /** Stationary standard deviation of logit(rho). */
  sigmaLogit: number;
  /** Mean-reversion time constant, seconds. */
  tauS: number;
  /** The load never exceeds this (admission control): the slowdown is at most 1 / (1 - maxLoad). */
  maxLoad: number;
  /** Relative noise of the load figure the server reports (sigma of ln of the slowdown). */
  reportSigma: number;
}

export interface DynamicsOptions {
  switching?: SwitchingCostOptions;
  contention?: ContentionOptions;
}

/**
 * Assumed switching figures (not measured on a Pi; docs/POLICY.md section 11): a Raspberry Pi 5
 * reads its microSD card at about 90 MB/s; 30 ms to create a layer's sessions; the cloud's gather
 * is the in-process fit of profiles/link-overhead-node.json (1.08 ms/MB).
 */
export const DEFAULT_SWITCHING: SwitchingCostOptions = { edgeLoadMBps: 90, cloudGatherMsPerByte: 1.08e-6, perLayerSetupMs: 30 };

/** A cloud that is half busy on average, with load swings that last minutes (logit sd 1.2: rho mostly in 0.1-0.9). */
export const DEFAULT_CONTENTION: ContentionOptions = { meanLoad: 0.5, sigmaLogit: 1.2, tauS: 300, maxLoad: 0.95, reportSigma: 0.05 };

const logit = (p: number): number => Math.log(p / (1 - p));
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** The cloud's load over time: OU in logit space on a 1 s grid, extended lazily and deterministically. */
export class CloudLoadProcess {
  private readonly xs: number[];
  constructor(
    readonly o: ContentionOptions,
    private readonly rng: Rng,
  ) {
    // start from the stationary distribution
    this.xs = [logit(o.meanLoad) + o.sigmaLogit * rng.normal()];
  }

  /** Load rho at time t (ms). */
  load(tMs: number): number {
    const i = Math.max(0, Math.floor(tMs / 1000));
    const { tauS, sigmaLogit, meanLoad } = this.o, mu = logit(meanLoad), a = Math.exp(-1 / tauS), s = sigmaLogit * Math.sqrt(1 - a * a);
    while (this.xs.length <= i) this.xs.push(mu + a * (this.xs.at(-1)! - mu) + s * this.rng.normal());
    return Math.min(this.o.maxLoad, sigmoid(this.xs[i]!));
  }

  /** Processor-sharing slowdown of cloud compute at time t (ms): 1 / (1 - rho). */
  slowdown(tMs: number): number {
    return 1 / (1 - this.load(tMs));
  }
}

/** A device profile whose every kernel takes `factor` times as long. */
export function scaleProfile(p: DeviceProfile, factor: number): DeviceProfile {
  const kernels = Object.fromEntries(
    KERNEL_KINDS.map((k) => {
      const r = p.kernels[k];
      const s = (f: typeof r.decode) => ({ ...f, a: f.a * factor, b: f.b * factor, c: f.c * factor, d: f.d * factor });
      return [k, { decode: s(r.decode), prefill: s(r.prefill) }];
    }),
  ) as DeviceProfile['kernels'];
  return { ...p, name: `${p.name} x${factor.toFixed(2)}`, kernels };
}

const scaled = new WeakMap<CostModel, Map<number, CostModel>>();
/** The cost model with the cloud slowed by `factor` (cached per model and factor rounded to 1 %). */
export function contendedModel(model: CostModel, factor: number): CostModel {
  const f = Math.round(Math.max(1, factor) * 100) / 100;
  if (f === 1) return model;
  let m = scaled.get(model);
  if (!m) scaled.set(model, (m = new Map()));
  let c = m.get(f);
  if (!c) {
    c = new CostModel(model.graph, model.edge, scaleProfile(model.cloud, f), model.accuracy, model.link, model.weights);
    m.set(f, c);
    if (m.size > 400) m.delete(m.keys().next().value!);
  }
  return c;
}

/** The cost model a decision should price with: the cloud as loaded as the server reports (unchanged without a report). */
export const modelFor = (model: CostModel, s: DecisionState): CostModel => (s.cloud ? contendedModel(model, s.cloud.slowdown) : model);

export interface SwitchCost {
  /** Added to the request's service time, ms. */
  ms: number;
  /** Of which the edge computes or loads (active power), ms. */
  edgeMs: number;
  bytesUp: number;
  /** Edge energy, J (active while loading and recomputing, idle while waiting, radio for the rows). */
  energyJ: number;
  /** Layers whose split changed. */
  layers: number;
}

export const NO_SWITCH: SwitchCost = { ms: 0, edgeMs: 0, bytesUp: 0, energyJ: 0, layers: 0 };

export interface PlanInPlace {
  counts: PlanCounts;
  precision: WirePrecision;
}

/**
 * What moving from `from` to `to` costs (see the header). `rows` is P, the rows already in the KV
 * cache (0 between requests). `edgeResident`: the edge kept every layer's weights (they all fit).
 * `cloudFactor` slows the cloud's recompute as contention does.
 */
export function switchCost(
  model: CostModel,
  from: PlanCounts | undefined,
  to: PlanInPlace,
  o: SwitchingCostOptions,
  net: NetworkState,
  energy: EnergyModel | undefined,
  rows = 0,
  edgeResident = false,
  cloudFactor = 1,
): SwitchCost {
  if (!from) return NO_SWITCH;
  const g = model.graph, L = g.config.nLayer, unit = g.layers[0]!.heads[0]!.cost.weightBytes;
  let edgeBytes = 0, cloudBytes = 0, layers = 0, upRows = 0, edgeRecompute = 0, cloudRecompute = 0;
  for (let l = 0; l < L; l++) {
    const dh = to.counts.cloudHeads[l]! - from.cloudHeads[l]!, dw = to.counts.cloudWidth[l]! - from.cloudWidth[l]!;
    if (dh === 0 && dw === 0) continue;
    layers++;
    // weights move at the precision of the side that takes them
    if (dh < 0) edgeBytes += atPrecision(-dh * unit, model.weights.edge);
    else cloudBytes += atPrecision(dh * unit, model.weights.cloud);
    if (dw < 0) edgeBytes += ffnBytes(g, -dw, model.weights.edge);
    else cloudBytes += ffnBytes(g, dw, model.weights.cloud);
    if (rows > 0 && dh > 0) {
      upRows += rows;
      cloudRecompute += model.cloudK.of('attn', rows, dh).a * cloudFactor;
    }
    if (rows > 0 && dh < 0) edgeRecompute += model.edgeK.of('attn', rows, -dh).a;
  }
  if (layers === 0) return NO_SWITCH;
  const load = edgeResident ? 0 : (edgeBytes / (o.edgeLoadMBps * 1e6)) * 1000;
  const setup = o.perLayerSetupMs * layers;
  const bytesUp = upRows * g.wireBytesPerToken[to.precision];
  const uses = (c: PlanCounts): boolean => c.cloudHeads.some((x) => x > 0) || c.cloudWidth.some((x) => x > 0);
  const cloudChanged = uses(from) || uses(to.counts);
  const remote = cloudChanged ? net.rttMs + (bytesUp * 8e-3) / net.upMbps + o.cloudGatherMsPerByte * cloudBytes + cloudRecompute : 0;
  const edgeMs = load + setup + edgeRecompute;
  const ms = edgeMs + remote;
  let energyJ = 0;
  if (energy) {
    energyJ = (energy.activeW * edgeMs + energy.idleW * remote) / 1000;
    if (bytesUp > 0) energyJ += (energy.radio.alphaUpMwPerMbps * ((bytesUp * 8) / 1e6)) / 1000 + (energy.radio.betaMw / 1000) * (remote / 1000);
  }
  return { ms, edgeMs, bytesUp, energyJ, layers };
}

/** Do the whole model's weights (and the edge's fixed bytes at this context) fit in the edge's free memory? */
export function allWeightsResident(model: CostModel, memoryFreeBytes: number, ctx: number): boolean {
  const c = model.graph.config;
  const edgeOnly: PlanCounts = { nLayer: c.nLayer, nHead: model.graph.attnUnits, nInner: c.nInner, cloudHeads: new Int32Array(c.nLayer), cloudWidth: new Int32Array(c.nLayer) };
  return model.edgeMemoryBytes(edgeOnly, ctx) <= memoryFreeBytes;
}

/** Are two plans the same split (precision aside)? */
export function samePlan(a: PlanCounts | undefined, b: PlanCounts): boolean {
  if (!a) return false;
  for (let l = 0; l < b.nLayer; l++) if (a.cloudHeads[l] !== b.cloudHeads[l] || a.cloudWidth[l] !== b.cloudWidth[l]) return false;
  return true;
}

/**
 * Expected processor-sharing slowdown over the next `horizonS` seconds, given the load now and the
 * load process's statistics (a server can publish its long-run mean load, spread and correlation
 * time). In logit space x(t) is Gaussian with mean mu + (x0 - mu) e^(-t/tau) and variance
 * sigma^2 (1 - e^(-2t/tau)); the slowdown 1 / (1 - rho) = 1 + e^x, so E = 1 + exp(m + v/2),
 * averaged over the horizon (8 points). Capped at 1 / (1 - maxLoad).
 */
export function expectedSlowdown(loadNow: number, o: ContentionOptions, horizonS: number): number {
  const mu = logit(o.meanLoad), x0 = logit(Math.min(o.maxLoad, Math.max(1e-4, loadNow))), cap = 1 / (1 - o.maxLoad);
  const n = 8;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const t = ((i + 0.5) / n) * Math.max(0, horizonS);
    const a = Math.exp(-t / o.tauS);
    const m = mu + (x0 - mu) * a, v = o.sigmaLogit ** 2 * (1 - a * a);
    sum += Math.min(cap, 1 + Math.exp(m + v / 2));
  }
  return sum / n;
}
