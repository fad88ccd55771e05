// Several edges sharing one cloud (issue 10): the contention each edge meets is made by the other
// edges' own decisions, not drawn from an outside load process (dynamics.ts CloudLoadProcess).
//
// N edges, each as in simulator.ts (its own channel, Poisson arrivals, request shapes, memory,
// battery, energy and accuracy virtual queues, switching costs), serve their queues one request at a
// time and share one cloud. The cloud shares its cores: a request's cloud kernels run
// 1 + beta * L times slower, L = the expected number of other edges' requests the cloud is working
// on at that moment (the sum, over the other edges in service, of the share of their time their
// request spends on the cloud). beta = 1 is a server that serves one call at a time; a batching
// server slows a sharing edge less (docs/POLICY.md section 12 measured 1 + L and 1 + 0.2-0.65 L).
// The server reports that figure, so each edge sees 1 + beta L in DecisionState.cloud when it decides.
//
// Time advances on a fixed tick. At a decision the request's cost is split into what the cloud's
// slowdown f scales and what it does not (requestCost at f = 1 and f = 2 on the channel's future:
// latency A + B f, energy Ea + Eb f, both exactly linear in f in the cost model); each tick the
// request progresses by tick / (A + B f) at the f of that tick. The reward is the single-edge
// environment's drift-plus-penalty, computed when the request completes (as simulator.ts does).
import type { WirePrecision } from '@splitwise/core';
import { requestCost, type CostModel, type EnergyModel, type NetworkState, type PlanCounts, type RequestShape } from '../cost-model.ts';
import { allWeightsResident, NO_SWITCH, switchCost, type SwitchingCostOptions } from '../dynamics.ts';
import { HISTORY, type DecisionState } from '../features.ts';
import { energyBudget } from '../objective.ts';
import type { Planner } from '../planners.ts';
import { Rng } from '../rng.ts';
import type { Channel } from './channel.ts';
import type { EnvConfig, WorkloadSpec } from './simulator.ts';

/** Each edge is the single-edge environment's (its channel, request shapes, memory, battery, objective). */
export interface SharedCloudConfig
  extends Pick<EnvConfig, 'model' | 'edgeProfile' | 'objective' | 'workload' | 'memoryMinBytes' | 'memoryMaxBytes' | 'batteryCapacityJ' | 'batteryMin' | 'measurementSigma'> {
  /** Edge `edge`'s channel (edges may differ). */
  channel: (rng: Rng, edge: number) => Channel;
  /** Arrivals are Poisson at `ratePerEdgePerS` at every edge (the workload's burst settings are not used). */
  edges: number;
  ratePerEdgePerS: number;
  /** Slowdown per other request the cloud holds (1: one call at a time). */
  beta: number;
  /**
   * Which edges tell the server that they price congestion (as the page's hello does); the server
   * reports the share of the others' load those edges hold (DecisionState.cloud.pricingShare).
   * Absent: none does, and the share is absent too.
   */
  pricing?: (edge: number) => boolean;
  switching?: SwitchingCostOptions;
  /** Requests scored per edge; the episode runs until every edge has completed this many. */
  episodeLength: number;
  tickMs: number;
}

export interface SharedRequestLog {
  latencyS: number;
  waitS: number;
  serviceS: number;
  energyJ: number;
  gen: number;
  reward: number;
  /** The slowdown the edge saw reported when it decided. */
  reportedSlowdown: number;
  cloudFraction: number;
  switched: boolean;
}

export interface SharedEpisodeLog {
  seed: number;
  /** Per edge, its first `episodeLength` requests in completion order. */
  edges: SharedRequestLog[][];
  /** The cloud's load (sum of every edge's share on it), once a second. */
  load: number[];
}

interface Service {
  arrival: number;
  start: number;
  req: RequestShape;
  /** Latency A + B f and energy Ea + Eb f at cloud slowdown f (ms, J); switching included in A, Ea. */
  A: number;
  B: number;
  Ea: number;
  Eb: number;
  progress: number;
  energyJ: number;
  accuracyLoss: number;
  usesCloud: boolean;
  Q0: number;
  battery0: number;
  reported: number;
  cloudFraction: number;
  switched: boolean;
}

interface EdgeState {
  rng: Rng;
  noise: Rng;
  channel: Channel;
  energy: EnergyModel;
  planner: Planner;
  queue: Array<{ arrival: number; req: RequestShape }>;
  nextArrival: number;
  arrivals: number[];
  Ze: number;
  Za: number;
  battery: number;
  memory: number;
  current?: { counts: PlanCounts; precision: WirePrecision };
  service?: Service;
  /** Share of this edge's time on the cloud now (0 when idle or not using the cloud). */
  duty: number;
  log: SharedRequestLog[];
}

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

function cloudShare(plan: PlanCounts): number {
  // API cloud-only holds every layer and the embeddings on the cloud, which no head or chunk count says
  if (plan.apiCloudOnly) return 1;
  let units = 0;
  for (let l = 0; l < plan.nLayer; l++) units += plan.cloudHeads[l]! + plan.cloudWidth[l]!;
  return units / (plan.nLayer * (plan.nHead + plan.nInner));
}

/** Run one episode: `planner(i)` makes edge i's planner (each edge decides for itself). */
export async function runSharedCloudEpisode(cfg: SharedCloudConfig, planner: (edge: number) => Planner, seed: number): Promise<SharedEpisodeLog> {
  const root = new Rng(seed), o = cfg.objective, model = cfg.model;
  const power = cfg.edgeProfile.power, radio = cfg.edgeProfile.radio;
  if (!power || !radio) throw new Error(`profile "${cfg.edgeProfile.name}" has no power or radio figures`);
  const edges: EdgeState[] = [];
  for (let i = 0; i < cfg.edges; i++) {
    const r = root.fork();
    const channel = cfg.channel(r.fork(), i), noise = r.fork(), rng = r.fork();
    edges.push({
      rng, noise, channel, planner: planner(i),
      energy: { activeW: power.activeW, idleW: power.idleW ?? 0, radio: radio[channel.radio] },
      queue: [], arrivals: [], nextArrival: 10_000 + rng.exponential(cfg.ratePerEdgePerS / 1000),
      Ze: 0, Za: 0, battery: rng.uniform(cfg.batteryMin, 1), memory: rng.uniform(cfg.memoryMinBytes, cfg.memoryMaxBytes),
      duty: 0, log: [],
    });
  }
  const loadPerSecond: number[] = [];
  const othersLoad = (i: number): number => edges.reduce((a, e, j) => (j === i ? a : a + e.duty), 0);
  const slowdownOf = (i: number): number => 1 + cfg.beta * othersLoad(i);
  const pricingShareOf = (i: number): number | undefined => {
    if (!cfg.pricing) return undefined;
    const all = othersLoad(i);
    return all > 0 ? edges.reduce((a, e, j) => (j !== i && cfg.pricing!(j) ? a + e.duty : a), 0) / all : 0;
  };
  const drawLen = (rng: Rng, s: WorkloadSpec['prompt']): number => Math.round(clamp(s.median * Math.exp(s.sigma * rng.normal()), s.min, s.max));
  const arrive = (e: EdgeState, until: number): void => {
    const ctx = model.graph.config.nPositions;
    while (e.nextArrival <= until) {
      const prompt = drawLen(e.rng, cfg.workload.prompt);
      const gen = Math.max(1, Math.min(drawLen(e.rng, cfg.workload.gen), ctx - prompt));
      e.queue.push({ arrival: e.nextArrival, req: { prompt, gen } });
      e.arrivals.push(e.nextArrival);
      e.nextArrival += e.rng.exponential(cfg.ratePerEdgePerS / 1000);
    }
  };
  const measured = (e: EdgeState, n: NetworkState): NetworkState => {
    const s = cfg.measurementSigma, r = e.noise;
    return { downMbps: n.downMbps * Math.exp(s * r.normal()), upMbps: n.upMbps * Math.exp(s * r.normal()), rttMs: n.rttMs * Math.exp(s * r.normal()) };
  };

  const observe = (i: number, t: number): DecisionState => {
    const e = edges[i]!, f = slowdownOf(i);
    const netHistory: NetworkState[] = [];
    for (let k = HISTORY; k >= 1; k--) netHistory.push(measured(e, e.channel.at(Math.max(0, t - k * 1000))));
    // the load history the server would have reported (others' share only is not known there: the total less this edge's now)
    const history: number[] = [];
    for (let k = HISTORY; k >= 1; k--) {
      const total = loadPerSecond[Math.max(0, loadPerSecond.length - k)] ?? 0;
      history.push(1 - 1 / (1 + cfg.beta * Math.max(0, total - e.duty)));
    }
    e.arrivals = e.arrivals.filter((a) => a > t - 600_000);
    return {
      net: measured(e, e.channel.at(t)),
      netHistory,
      Q: e.queue.length,
      lambdaPerS: (e.arrivals.length / Math.min(600_000, Math.max(t, 60_000))) * 1000,
      Ze: e.Ze,
      Za: e.Za,
      request: e.queue[0]!.req,
      memoryFreeBytes: e.memory,
      battery: e.battery,
      radio: e.channel.radio,
      cloud: { load: 1 - 1 / f, slowdown: f, history, ...(cfg.pricing ? { pricingShare: pricingShareOf(i)! } : {}) },
      ...(e.current ? { current: e.current } : {}),
    };
  };

  const start = async (i: number, t: number): Promise<void> => {
    const e = edges[i]!, s = observe(i, t), f = s.cloud!.slowdown;
    const d = await e.planner.decide(s, { model, energy: e.energy, objective: o });
    const head = e.queue.shift()!;
    const rows = head.req.prompt + head.req.gen;
    const sw = cfg.switching
      ? switchCost(model, e.current?.counts, { counts: d.plan, precision: d.precision }, cfg.switching, e.channel.at(t), e.energy, 0, allWeightsResident(model, e.memory, rows), f)
      : NO_SWITCH;
    const compiled = model.compile(d.plan, d.precision), begin = t + sw.ms;
    const at = (factor: number) => requestCost(model, compiled, head.req, (ms) => e.channel.at(begin + ms), e.energy, () => factor);
    const c1 = at(1), c2 = at(2);
    const B = c2.latencyMs - c1.latencyMs, Eb = c2.energyJ - c1.energyJ;
    e.current = { counts: { ...d.plan, cloudHeads: Int32Array.from(d.plan.cloudHeads), cloudWidth: Int32Array.from(d.plan.cloudWidth) }, precision: d.precision };
    e.service = {
      arrival: head.arrival, start: t, req: head.req,
      A: c1.latencyMs - B + sw.ms, B, Ea: c1.energyJ - Eb + sw.energyJ, Eb,
      progress: 0, energyJ: 0, accuracyLoss: c1.accuracyLoss, usesCloud: compiled.usesCloud,
      Q0: e.queue.length + 1, battery0: e.battery, reported: f,
      cloudFraction: cloudShare(d.plan), switched: sw.layers > 0,
    };
    e.duty = B > 0 ? (B * f) / (c1.latencyMs - B + sw.ms + B * f) : 0;
  };

  const complete = (e: EdgeState, t: number): void => {
    const v = e.service!;
    arrive(e, t);
    let energyJ = v.energyJ;
    // nothing queued: the radio's tail after this request until the next one starts (LTE), as simulator.ts
    if (v.usesCloud && e.queue.length === 0 && e.energy.radio.tailS > 0) energyJ += (e.energy.radio.tailMw / 1000) * (Math.min(e.energy.radio.tailS * 1000, e.nextArrival - t) / 1000);
    const g = v.req.gen, serviceS = (t - v.start) / 1000;
    const Eb = energyBudget(o, v.battery0) * g;
    const Ze1 = Math.max(0, e.Ze + energyJ / Eb - 1), Za1 = Math.max(0, e.Za + v.accuracyLoss / o.accuracyBudget - 1);
    const Q1 = e.queue.length;
    const drift = 0.5 * (Q1 * Q1 - v.Q0 * v.Q0 + Ze1 * Ze1 - e.Ze * e.Ze + Za1 * Za1 - e.Za * e.Za);
    const penalty = serviceS / g + (o.wEnergy * energyJ) / Eb + (o.wAccuracy * v.accuracyLoss) / o.accuracyBudget;
    e.Ze = Ze1;
    e.Za = Za1;
    e.battery = Math.max(0, e.battery - energyJ / cfg.batteryCapacityJ);
    if (e.log.length < cfg.episodeLength) {
      e.log.push({
        latencyS: (t - v.arrival) / 1000, waitS: (v.start - v.arrival) / 1000, serviceS, energyJ, gen: g,
        reward: -(drift + o.V * penalty), reportedSlowdown: v.reported, cloudFraction: v.cloudFraction, switched: v.switched,
      });
    }
    e.service = undefined;
    e.duty = 0;
  };

  let t = 10_000;
  const limit = t + 7 * 24 * 3600 * 1000;
  while (!edges.every((e) => e.log.length >= cfg.episodeLength)) {
    if (t > limit) throw new Error('shared-cloud episode ran past a simulated week: the regime is unstable');
    for (let i = 0; i < edges.length; i++) {
      const e = edges[i]!;
      arrive(e, t);
      if (!e.service && e.queue.length > 0) await start(i, t);
    }
    // one tick at the slowdowns of its start
    const f = edges.map((_, i) => slowdownOf(i));
    for (let i = 0; i < edges.length; i++) {
      const e = edges[i]!, v = e.service;
      if (!v) continue;
      const T = v.A + v.B * f[i]!;
      v.progress += cfg.tickMs / T;
      v.energyJ += (cfg.tickMs / T) * (v.Ea + v.Eb * f[i]!);
      e.duty = v.B > 0 ? (v.B * f[i]!) / T : 0;
    }
    t += cfg.tickMs;
    if (Math.floor(t / 1000) > Math.floor((t - cfg.tickMs) / 1000)) loadPerSecond.push(edges.reduce((a, e) => a + e.duty, 0));
    for (const e of edges) if (e.service && e.service.progress >= 1 - 1e-12) complete(e, t);
  }
  return { seed, edges: edges.map((e) => e.log), load: loadPerSecond };
}

/** An episode's figures, averaged first per edge, then over edges (every edge counts the same). */
export function summarizeShared(ep: SharedEpisodeLog): { reward: number; latencyS: number; waitS: number; energyPerToken: number; cloudFraction: number; meanLoad: number; switches: number } {
  const mean = (xs: number[]): number => xs.reduce((a, v) => a + v, 0) / Math.max(1, xs.length);
  const per = (f: (r: SharedRequestLog) => number): number => mean(ep.edges.map((rs) => mean(rs.map(f))));
  return {
    reward: per((r) => r.reward),
    latencyS: per((r) => r.latencyS),
    waitS: per((r) => r.waitS),
    energyPerToken: per((r) => r.energyJ / r.gen),
    cloudFraction: per((r) => r.cloudFraction),
    meanLoad: mean(ep.load),
    switches: per((r) => (r.switched ? 1 : 0)),
  };
}
