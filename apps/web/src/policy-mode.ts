// The page's policy mode. Which method decides is measured, not assumed: the learned Splitwise
// policies (ONNX, packages/policy/trained) lose to the textbook Lyapunov drift-plus-penalty rule in
// every family of the evaluation (docs/POLICY.md, sections 8, 10, 11 and 12), so the page does not
// use them. It decides with that rule, exact over the whole plan space (the per-decision optimum
// over every split of every layer by attention units and FFN chunks, every layer cut, the plan in
// place and API cloud-only, each at every wire precision) plus the full cost of changing the plan
// (moving weights, rebuilding the moved units' KV rows): price-policy.ts pricedDecision at price 1,
// computed in this browser from the same cost model the evaluation uses, on the page's own model
// graph (GPT-2 or LLaMA family, read by buildModelGraph). API cloud-only sends token ids to the
// server, so the method considers it only when the person allows it (?ids=send), and the page then
// says so; by default token ids stay on this device. It decides before each request, and again
// between tokens when the measured bandwidth, RTT or cloud load moves by more than a threshold.
// What it sees:
//   - the socket link's NetworkEstimator (RTT from probes; bandwidth from real transfers, and a
//     timed upload probe when no tensor has crossed lately) and its last 8 one-second samples;
//   - this page's request queue (one request at a time, so Q = 1) and its arrival rate;
//   - the energy and accuracy virtual queues of the drift-plus-penalty objective, kept here: after
//     each request they move by the cost model's estimate of what that request used;
//   - the request (prompt length, tokens asked for), the memory the browser reports, the battery;
//   - the plan in place and, mid-answer, the rows already in the KV cache (what a switch rebuilds);
//   - the cloud's load from other sessions, as the server reports it in every probe's reply (the
//     last 8): the mean number of their requests it holds, L, and how much each slows this
//     session's, beta (1 for calls run on their own, the batcher's measure for a batched session);
//     the cloud is priced 1 + beta L times slower, and a move of that slowdown past the threshold
//     mid-answer is a reason to decide again.
//     When the server says it does not batch (each session's calls run on their own, so every page
//     on it slows the others as much as they slow it), the method also prices what its own use of
//     the cloud costs the others: the fitted congestion toll (congestion-price.ts, the version-4
//     rule, trained/v4-toll-gpt2xl-rpi5), which in the shared-cloud evaluation lowered the episode
//     cost of every edge on a heavily loaded serial server and bought nothing on a batching one
//     (docs/POLICY.md, "Several edges sharing one cloud"). It is reciprocal: the page tells the
//     server that it prices congestion, and tolls in proportion to the share of the others' load
//     held by sessions that said the same (`pricingShare`). A lone payer, or a page facing load
//     from clients that do not restrain themselves, gave up its own reward and got nothing back.
// Nothing here touches the DOM; the split card draws `view`.
import { syncPointsPerForward, type PartitionPlan, type WirePrecision } from '@splitwise/core';
import {
  CostModel,
  DEFAULT_CONTENTION,
  DEFAULT_SWITCHING,
  OBJECTIVE,
  pricedDecision,
  countsToPlan,
  edgeMemoryBytes,
  energyBudget,
  layerSplitCounts,
  parseProfile,
  planCounts,
  requestCost,
  samePlan,
  switchCost,
  allWeightsResident,
  sideWeightsName,
  type AccuracyTable,
  type DecisionState,
  type DeviceProfile,
  type EnergyModel,
  type NetworkState,
  type PlanCounts,
  type SwitchingCostOptions,
  type TollRule,
  reciprocalToll,
  tollOf,
  withCongestionPrice,
} from '@splitwise/policy';
import accuracyJson from '../../../packages/policy/profiles/accuracy-gpt2-random.json';
import weightsAccuracyJson from '../../../packages/policy/profiles/accuracy-weights.json';
import cloudProfileJson from '../../../packages/policy/profiles/node-epyc-2vcpu.json';
import rpi5ChromiumJson from '../../../packages/policy/profiles/rpi5-8gb-chromium-wasm.json';
import tollRuleJson from '../../../packages/policy/trained/v4-toll-gpt2xl-rpi5/toll-rule.json';
import type { EdgeApp } from './edge.ts';
import type { PolicyView } from './hook-types.ts';

/** The method the page decides with, as the panel names it (token ids kept on this device: the default). */
export const PAGE_METHOD =
  'Lyapunov DPP, exact over heads, FFN chunks and layer cuts × precision, with switching costs and, on a server that does not batch, the fitted congestion toll (v4) in proportion to the share of the others\' load that prices it too; token ids stay on this device (learned policy not used: it loses, see docs/POLICY.md)';
/** The same with ?ids=send: API cloud-only is one more candidate. */
export const PAGE_METHOD_SEND_IDS =
  'Lyapunov DPP, exact over heads, FFN chunks, layer cuts and API cloud-only × precision, with switching costs and, on a server that does not batch, the fitted congestion toll (v4) in proportion to the share of the others\' load that prices it too; token ids may go to the server (learned policy not used: it loses, see docs/POLICY.md)';

/**
 * The congestion toll the page adds when the server does not batch: tau = a + b (f_bar - 1), with
 * a and b as `npm run train:policy:v4` fitted them, f_bar the slowdown of the last 8 reports and now,
 * times the share of the others' load held by sessions that price congestion too (reciprocalToll).
 */
export const PAGE_TOLL = reciprocalToll(tollOf(tollRuleJson as TollRule));

/**
 * Switching costs in the page: every weight is already in this browser's memory (the page loads
 * the whole model), so a side that gains units only gathers them into new arrays, at the measured
 * gather rate (1.08 ms/MB, profiles/link-overhead-node.json) on both sides; 30 ms of session setup
 * per changed layer (assumed); and mid-answer, the moved heads' KV rows (the cost model prices them).
 */
export const PAGE_SWITCHING: SwitchingCostOptions = { ...DEFAULT_SWITCHING, edgeLoadMBps: 1 / (DEFAULT_SWITCHING.cloudGatherMsPerByte * 1e3) };

/**
 * The price of a plan change in the solver's score: 1, the switch priced in full at the decision
 * that makes it. Spreading it over several requests did no better in the evaluation (docs/POLICY.md
 * section 11), and a learned, state-dependent price found nothing better than 1 (section 12).
 */
export const PAGE_SWITCH_PRICE = 1;

/** The edge the page's cost model prices: a Raspberry Pi 5 running this page in Chromium (derived from the measured WASM profile). */
const EDGE: DeviceProfile = parseProfile(rpi5ChromiumJson);

export interface PolicyModeOptions {
  /** Memory the edge may use for the model, bytes (the page's ?memory=MB); else from the browser. */
  memoryBytes?: number;
  /** Re-decide mid-answer when bandwidth or RTT changes by more than this factor. @defaultValue 1.5 */
  moveFactor?: number;
  /** ...but not more often than this (the estimates are smoothed; this bounds churn). @defaultValue 2000 */
  minIntervalMs?: number;
  /** May the method choose API cloud-only (token ids go to the server)? The page's ?ids=send. @defaultValue false */
  allowApi?: boolean;
}

const GiB = 2 ** 30;
const HISTORY = 8;
/** The highest load the policy prices (the simulator's cap, dynamics.ts DEFAULT_CONTENTION.maxLoad): a slowdown of at most 20x. */
const MAX_CLOUD_LOAD = DEFAULT_CONTENTION.maxLoad;
/** Below this, RTT changes are jitter, whatever the ratio (loopback swings 0.2 to 1 ms). */
const RTT_FLOOR_MS = 5;

interface BatteryLike {
  level: number;
}

export interface PolicyDecision {
  plan: PartitionPlan;
  precision: WirePrecision;
}

export class PagePolicy {
  readonly view: PolicyView;
  private readonly history: NetworkState[] = [];
  private readonly arrivals: number[] = [];
  private readonly cost: CostModel;
  private Ze = 0;
  private Za = 0;
  private seen?: NetworkState;
  /** The cloud's reported load and slowdown at the last decision (before any toll). */
  private seenCloud?: { load: number; slowdown: number };
  private decidedAt = -Infinity;
  private bandwidthAtLeastBps = NaN;
  private battery?: BatteryLike;
  private lastBwSamples = 0;
  private quietTicks = 0;
  private deciding?: Promise<PolicyDecision>;
  /** The plan the page runs now (what a switch moves away from); undefined before the first decision. */
  private current?: { counts: PlanCounts; precision: WirePrecision };
  /** A request is being answered: decisions now are mid-answer, with its rows in the KV cache. */
  private inRequest = false;

  private constructor(
    private readonly app: EdgeApp,
    private readonly o: PolicyModeOptions,
  ) {
    // quantized weights (?weights=): the story model's measured KL for the LLaMA family, the gpt2 shape's for GPT-2
    const klPerWeights = weightsAccuracyJson.models[app.config.family === 'llama' ? 'stories260K' : 'gpt2-random'].klPerWeights;
    const accuracy: AccuracyTable = { klPerResidual: accuracyJson.klPerResidual, klPerPartial: accuracyJson.klPerPartial, klPerWeights, source: 'profiles/accuracy-gpt2-random.json, profiles/accuracy-weights.json' };
    this.cost = new CostModel(app.graph, EDGE, parseProfile(cloudProfileJson), accuracy, {}, app.weights);
    const c = app.graph.config;
    this.view = {
      policy: 'dpp-exact-switching',
      method: o.allowApi ? PAGE_METHOD_SEND_IDS : PAGE_METHOD,
      trainedFor: `not trained: computed per decision in this browser from the cost model (edge ${EDGE.name}, cloud node-epyc-2vcpu) on this page's model, ${c.nLayer} layers, ${app.graph.attnUnits} attention units per layer; a switch is priced in full at the decision that makes it`,
      weights: sideWeightsName(app.weights),
      trainedLayers: 0,
      modelLayers: c.nLayer,
      mapped: false,
      decisions: 0,
      Ze: 0,
      Za: 0,
      log: [],
    };
  }

  static async create(app: EdgeApp, o: PolicyModeOptions = {}): Promise<PagePolicy> {
    const p = new PagePolicy(app, o);
    const nav = navigator as Navigator & { getBattery?: () => Promise<BatteryLike> };
    p.battery = await nav.getBattery?.().catch(() => undefined);
    return p;
  }

  private energyModel(radio: 'wifi' | 'lte'): EnergyModel {
    const p = EDGE;
    if (!p.power || !p.radio) throw new Error(`profile ${p.name} has no power or radio figures`);
    return { activeW: p.power.activeW, idleW: p.power.idleW ?? 0, radio: p.radio[radio] };
  }

  /**
   * The network as the link measures it now (one bandwidth figure: the link times both directions
   * together). Where every transfer was too quick to time (a LAN, loopback), the bandwidth is at
   * least what the largest probe implies, and that lower bound is what the policy sees.
   */
  private network(): NetworkState | undefined {
    const s = this.app.link.network.snapshot();
    const bps = s.bandwidthBps > 0 ? s.bandwidthBps : this.bandwidthAtLeastBps;
    if (!(s.rttMs >= 0) || !(bps > 0)) return undefined;
    const mbps = bps / 1e6;
    return { rttMs: s.rttMs, downMbps: mbps, upMbps: mbps };
  }

  /**
   * Once a second: keep the history the policy reads, and when no tensor has crossed for a few
   * seconds (an edge-heavy plan), time an upload so the bandwidth stays measured.
   */
  tick(): void {
    const s = this.app.link.network.snapshot();
    if (s.bandwidthSamples === this.lastBwSamples) this.quietTicks++;
    else this.quietTicks = 0;
    this.lastBwSamples = s.bandwidthSamples;
    if (this.quietTicks >= 5) {
      this.quietTicks = 0;
      void this.app.link.probeBandwidth(32 * 1024).catch(() => undefined);
    }
    const net = this.network();
    if (net) {
      this.history.push(net);
      if (this.history.length > HISTORY) this.history.shift();
    }
  }

  /**
   * Has the network, or the cloud's reported slowdown, moved by more than the threshold since the
   * last decision? (`cloud`: the load from other sessions then and now, when that is what moved.)
   */
  moved(): { from: NetworkState; to: NetworkState; cloud?: { from: number; to: number } } | undefined {
    const to = this.network(), from = this.seen;
    if (!to || !from || this.deciding) return undefined;
    if (performance.now() - this.decidedAt < (this.o.minIntervalMs ?? 2000)) return undefined;
    const f = this.o.moveFactor ?? 1.5;
    const ratio = (a: number, b: number): number => Math.max(a / b, b / a);
    const bw = ratio(to.downMbps, from.downMbps) > f;
    const rtt = ratio(to.rttMs, from.rttMs) > f && Math.abs(to.rttMs - from.rttMs) > RTT_FLOOR_MS;
    const now = this.cloudReport().cloud, then = this.seenCloud;
    const cloud = now && then && ratio(now.slowdown, then.slowdown) > f ? { from: then.load, to: now.load } : undefined;
    return bw || rtt || cloud ? { from, to, ...(cloud ? { cloud } : {}) } : undefined;
  }

  /** Timed uploads of growing size until one is slow enough to time. */
  private async measureBandwidth(): Promise<void> {
    for (const bytes of [64 * 1024, 256 * 1024]) {
      const t = performance.now();
      if ((await this.app.link.probeBandwidth(bytes)) > 0) return;
      // too quick to time: at least this many bits in (at most) this much time
      this.bandwidthAtLeastBps = Math.max(this.bandwidthAtLeastBps || 0, (bytes * 8) / (Math.max(0.5, performance.now() - t) / 1000));
    }
  }

  private memoryBytes(): number {
    if (this.o.memoryBytes) return this.o.memoryBytes;
    // Chrome reports device memory in GiB, capped at 8; the page may use about half, and
    // onnxruntime-web's 32-bit WASM heap cannot grow past 4 GiB whatever the device has
    const device = ((navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? 4) * GiB;
    return Math.min(device / 2, 4 * GiB);
  }

  /**
   * The cloud's load as the server reported it in the link's probe replies: the mean number of
   * other sessions' requests it held lately (L), and how much each of them slows this session's
   * (beta, `contention`: 1 for calls that run on their own, less for a batched session, from the
   * batcher's run times). Every cloud kernel is priced 1 + beta L times slower (a serial server
   * showed 1 + L within 16 %: docs/contention-measured.md). Without a contention figure (an older
   * server, or none measured yet) beta is 1, the cautious side. As the evaluation prices a contended
   * cloud: load rho = 1 - 1 / (1 + beta L), capped at 0.95 as the simulator caps it. The last 8
   * reports are the history. Nothing when the server sent none (an older server).
   */
  private cloudReport(): Pick<DecisionState, 'cloud'> & { held?: number; batching?: boolean; contention?: number } {
    // the share of the others' load held by sessions that price congestion (the toll reads it)
    const c = this.app.link.cloudLoad.snapshot();
    if (!(c.samples > 0) || !Number.isFinite(c.concurrency)) return {};
    const beta = c.contention ?? 1;
    const rho = (l: number): number => Math.min(MAX_CLOUD_LOAD, 1 - 1 / (1 + beta * l));
    const load = rho(c.concurrency), slowdown = 1 / (1 - load);
    const recent = c.recentConcurrency.slice(-HISTORY).map(rho);
    while (recent.length < HISTORY) recent.unshift(recent[0] ?? load);
    return { cloud: { load, slowdown, history: recent, ...(c.pricingShare !== undefined ? { pricingShare: c.pricingShare } : {}) }, held: c.concurrency, ...(c.batching !== undefined ? { batching: c.batching } : {}), ...(c.contention !== undefined ? { contention: c.contention } : {}) };
  }

  private lambdaPerS(now: number): number {
    const windowMs = 10 * 60_000;
    while (this.arrivals.length && now - this.arrivals[0]! > windowMs) this.arrivals.shift();
    const span = Math.max(60_000, now - (this.arrivals[0] ?? now));
    return this.arrivals.length / (span / 1000);
  }

  /**
   * Decide a plan and precision for a request of `prompt` tokens asking for `gen` more. `reason`
   * is what the panel shows: before a request, or the network moving mid-answer.
   */
  decide(reason: string, request: { prompt: number; gen: number }, arrival = false): Promise<PolicyDecision> {
    const run = async (): Promise<PolicyDecision> => {
      if (arrival) this.arrivals.push(performance.now());
      if (!(this.app.link.network.snapshot().rttMs >= 0)) await this.app.link.probe();
      if (!(this.app.link.network.snapshot().bandwidthBps > 0)) await this.measureBandwidth();
      const net = this.network();
      if (!net) throw new Error('the link has no RTT or bandwidth measurement yet');
      if (arrival) this.inRequest = true;
      const kvRows = this.inRequest && !arrival ? request.prompt : 0;
      const { held, batching, contention, ...reported } = this.cloudReport();
      const state: DecisionState = {
        net,
        netHistory: this.history.length ? [...this.history] : [net],
        Q: 1,
        lambdaPerS: this.lambdaPerS(performance.now()),
        Ze: this.Ze,
        Za: this.Za,
        request,
        memoryFreeBytes: this.memoryBytes(),
        battery: this.battery?.level ?? 1,
        radio: (navigator as Navigator & { connection?: { type?: string } }).connection?.type === 'cellular' ? 'lte' : 'wifi',
        ...(this.current ? { current: this.current } : {}),
        ...(kvRows > 0 ? { kvRows } : {}),
        ...reported,
      };
      const t0 = performance.now();
      // a server that does not batch: price what this page's cloud use costs the other sessions too
      const toll = state.cloud && batching === false ? PAGE_TOLL(state) : 0;
      // and says so to a server that reports the share (one that does not would refuse the word)
      if (state.cloud?.pricingShare !== undefined) this.app.link.pricesCongestion = batching === false;
      const priced = withCongestionPrice(state, toll);
      const energy = this.energyModel(state.radio);
      const d = pricedDecision(priced, { model: this.cost, energy, objective: OBJECTIVE, allowApi: this.o.allowApi === true }, PAGE_SWITCH_PRICE, PAGE_SWITCHING);
      const ms = performance.now() - t0;
      const graph = this.app.graph, L = graph.config.nLayer;
      const plan = countsToPlan(graph, d.plan);
      const sw = switchCost(this.cost, this.current?.counts, { counts: d.plan, precision: d.precision }, PAGE_SWITCHING, net, energy, kvRows, allWeightsResident(this.cost, state.memoryFreeBytes, request.prompt + request.gen));
      const switched = this.current !== undefined && !samePlan(this.current.counts, d.plan);
      this.current = { counts: d.plan, precision: d.precision };
      this.seen = net;
      this.seenCloud = state.cloud ? { load: state.cloud.load, slowdown: state.cloud.slowdown } : undefined;
      this.decidedAt = performance.now();
      // layer cuts k = 1..L that did not fit the memory the page may use
      let masked = 0;
      for (let k = 1; k <= L; k++) if (edgeMemoryBytes(graph, layerSplitCounts(this.cost, k), request.prompt + request.gen) > state.memoryFreeBytes) masked++;
      let edgeLayers = 0, splitLayers = 0;
      for (let l = 0; l < L; l++) {
        const h = d.plan.cloudHeads[l]!, w = d.plan.cloudWidth[l]!;
        if (h === 0 && w === 0) edgeLayers++;
        else if (!(h === d.plan.nHead && w === d.plan.nInner)) splitLayers++;
      }
      const total = L * (d.plan.nHead + d.plan.nInner);
      let cloud = 0;
      for (let l = 0; l < L; l++) cloud += d.plan.cloudHeads[l]! + d.plan.cloudWidth[l]!;
      this.view.decisions++;
      this.view.last = {
        reason,
        at: Date.now(),
        ms,
        seen: {
          rttMs: net.rttMs,
          downMbps: net.downMbps,
          upMbps: net.upMbps,
          Q: state.Q,
          lambdaPerMin: state.lambdaPerS * 60,
          Ze: state.Ze,
          Za: state.Za,
          prompt: request.prompt,
          gen: request.gen,
          memoryFreeMB: state.memoryFreeBytes / 2 ** 20,
          battery: state.battery,
          radio: state.radio,
          ...(state.cloud ? { cloudLoad: state.cloud.load, cloudSlowdown: state.cloud.slowdown, cloudToll: toll, cloudPricedSlowdown: priced.cloud!.slowdown } : {}),
          ...(state.cloud?.pricingShare !== undefined ? { cloudPricingShare: state.cloud.pricingShare } : {}),
          ...(batching !== undefined ? { cloudBatching: batching } : {}),
          ...(held !== undefined ? { cloudHeld: held } : {}),
          ...(contention !== undefined ? { cloudContention: contention } : {}),
        },
        fraction: (L - edgeLayers) / L,
        masked,
        precision: d.precision,
        cloudUnits: cloud / total,
        syncPoints: syncPointsPerForward(plan),
        edgeLayers,
        splitLayers,
        api: d.plan.apiCloudOnly === true,
        switched,
        switchMs: sw.ms,
        kvRows,
      };
      this.view.log = [...this.view.log, { reason, fraction: this.view.last.fraction, precision: d.precision, at: this.view.last.at }].slice(-8);
      return { plan, precision: d.precision };
    };
    const p = run().finally(() => {
      if (this.deciding === p) this.deciding = undefined;
    });
    this.deciding = p;
    return p;
  }

  /**
   * A request finished: move the energy and accuracy virtual queues by what the cost model says it
   * used (Z' = max(0, Z + used / budget - 1), as in training), at the network the policy last saw.
   */
  finished(request: { prompt: number; gen: number }, plan: PartitionPlan, precision: WirePrecision): void {
    if (request.gen < 1) {
      this.inRequest = false;
      return;
    }
    this.inRequest = false;
    // the plan that actually ran last is the one in place now
    this.current = { counts: planCounts(this.app.graph, plan), precision };
    const net = this.network() ?? this.seen;
    if (!net) return;
    const energy = this.energyModel(this.view.last?.seen.radio ?? 'wifi');
    const c = requestCost(this.cost, this.cost.compile(plan, precision), request, net, energy);
    const battery = this.battery?.level ?? 1;
    this.Ze = Math.max(0, this.Ze + c.energyJ / (energyBudget(OBJECTIVE, battery) * request.gen) - 1);
    this.Za = Math.max(0, this.Za + c.accuracyLoss / OBJECTIVE.accuracyBudget - 1);
    this.view.Ze = this.Ze;
    this.view.Za = this.Za;
    this.view.lastRequest = { energyJ: c.energyJ, accuracyLoss: c.accuracyLoss, predictedMs: c.latencyMs };
  }

  async release(): Promise<void> {
    // nothing to release: no ONNX session (the method is computed, not learned)
  }
}
