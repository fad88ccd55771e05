// The shared-cloud simulator (issue 10) and the congestion toll: the decomposition it advances time
// with is exact in the cost model, one edge alone meets an unloaded cloud, edges that share it slow
// each other and see it reported, episodes are seeded, and a toll of 0 (or no load report) changes
// no decision. Runs on the gpt2 shape with the Pi 5 (Chromium) and node-epyc profiles.
import { readFileSync } from 'node:fs';
import { PRESETS, buildModelGraph } from '@splitwise/core';
import { describe, expect, it } from 'vitest';
import { CongestionPricePlanner, reciprocalToll, smoothedSlowdown, tollOf, TOLL_MAX, withCongestionPrice } from '../congestion-price.ts';
import { apiCloudOnlyCounts, CostModel, requestCost, type PlanCounts } from '../cost-model.ts';
import { DEFAULT_SWITCHING } from '../dynamics.ts';
import type { DecisionState } from '../features.ts';
import { ApiCloudOnlyPlanner, layerSplitCounts, type Planner } from '../planners.ts';
import { FixedPricePlanner } from '../price-policy.ts';
import { parseProfile } from '../profile.ts';
import { OBJECTIVE, memoryRange } from '../scenario.ts';
import { modelFootprint } from '../policy-runner.ts';
import { CHANNEL_SPECS, MarkovChannel } from './channel.ts';
import { runSharedCloudEpisode, summarizeShared, type SharedCloudConfig } from './shared-cloud.ts';
import { DEFAULT_WORKLOAD } from './simulator.ts';

const prof = (n: string) => parseProfile(JSON.parse(readFileSync(new URL(`../../profiles/${n}.json`, import.meta.url), 'utf8')));
const edge = prof('rpi5-8gb-chromium-wasm'), cloud = prof('node-epyc-2vcpu');
const acc = JSON.parse(readFileSync(new URL('../../profiles/accuracy-gpt2-random.json', import.meta.url), 'utf8'));
const model = new CostModel(buildModelGraph(PRESETS.gpt2), edge, cloud, { klPerResidual: acc.klPerResidual, klPerPartial: acc.klPerPartial, source: 'test' });
const memory = memoryRange(model, edge, modelFootprint(model.graph));
const energy = { activeW: edge.power!.activeW, idleW: edge.power!.idleW ?? 0, radio: edge.radio!.wifi };

const cfgOf = (edges: number, ratePerEdgePerS: number, beta = 1): SharedCloudConfig => ({
  model, edgeProfile: edge, objective: OBJECTIVE, workload: DEFAULT_WORKLOAD,
  channel: (r) => new MarkovChannel(CHANNEL_SPECS.wifi, r),
  memoryMinBytes: memory.min, memoryMaxBytes: memory.max, batteryCapacityJ: 100_000, batteryMin: 0.2,
  edges, ratePerEdgePerS, beta, switching: DEFAULT_SWITCHING, episodeLength: 8, measurementSigma: 0.1, tickMs: 50,
});

describe('shared-cloud simulator', () => {
  it('time and energy are exactly linear in the cloud slowdown in the cost model (what the simulator advances with)', () => {
    const net = CHANNEL_SPECS.wifi.states[0]!, req = { prompt: 40, gen: 12 };
    for (const plan of [apiCloudOnlyCounts(model.graph), layerSplitCounts(model, 5), layerSplitCounts(model, 0)]) {
      for (const p of ['fp32', 'int8'] as const) {
        const c = model.compile(plan, p), at = (f: number) => requestCost(model, c, req, net, energy, () => f);
        const [a, b, d] = [at(1), at(2), at(5.5)];
        expect(d.latencyMs).toBeCloseTo(a.latencyMs + 4.5 * (b.latencyMs - a.latencyMs), 6);
        expect(d.energyJ).toBeCloseTo(a.energyJ + 4.5 * (b.energyJ - a.energyJ), 6);
      }
    }
  });

  it('one edge alone meets an unloaded cloud; edges sharing it slow each other and see it reported', async () => {
    const alone = await runSharedCloudEpisode(cfgOf(1, 1 / 60), () => new ApiCloudOnlyPlanner(), 5);
    expect(alone.edges[0]!.every((r) => r.reportedSlowdown === 1)).toBe(true);
    expect(Math.max(...alone.load)).toBeLessThanOrEqual(1 + 1e-9);
    // busy edges: the cloud holds several requests, each meets a slower cloud and is told so
    const many = await runSharedCloudEpisode(cfgOf(6, 1 / 3), () => new ApiCloudOnlyPlanner(), 5);
    const reported = many.edges.flat().map((r) => r.reportedSlowdown);
    expect(Math.max(...reported)).toBeGreaterThan(2);
    const service = (ep: typeof alone) => summarizeShared(ep).latencyS - summarizeShared(ep).waitS;
    expect(service(many)).toBeGreaterThan(1.5 * service(alone));
    // a batching server (beta < 1) slows them less
    const batching = await runSharedCloudEpisode(cfgOf(6, 1 / 3, 0.3), () => new ApiCloudOnlyPlanner(), 5);
    expect(service(batching)).toBeLessThan(service(many));
  });

  it('is seeded: the same seed gives the same episode, another seed another', async () => {
    const run = (seed: number) => runSharedCloudEpisode(cfgOf(3, 1 / 20), () => new FixedPricePlanner(1, DEFAULT_SWITCHING, false), seed);
    expect(await run(11)).toEqual(await run(11));
    expect(summarizeShared(await run(11)).reward).not.toBe(summarizeShared(await run(12)).reward);
  });
});

describe('congestion toll', () => {
  const state = (slowdown: number | undefined): DecisionState => ({
    net: { rttMs: 40, upMbps: 8, downMbps: 30 }, netHistory: Array.from({ length: 8 }, () => ({ rttMs: 40, upMbps: 8, downMbps: 30 })),
    Q: 2, lambdaPerS: 0.02, Ze: 0.5, Za: 0, request: { prompt: 64, gen: 24 }, memoryFreeBytes: memory.max, battery: 1, radio: 'wifi',
    ...(slowdown ? { cloud: { load: 1 - 1 / slowdown, slowdown, history: Array(8).fill(1 - 1 / slowdown) } } : {}),
  });

  it('raises the reported slowdown by (1 + tau) of its excess; nothing without a report or with tau 0', () => {
    expect(withCongestionPrice(state(3), 1).cloud!.slowdown).toBe(5);
    expect(withCongestionPrice(state(3), 1).cloud!.load).toBeCloseTo(0.8, 12);
    expect(withCongestionPrice(state(3), 0)).toEqual(state(3));
    expect(withCongestionPrice(state(undefined), 4)).toEqual(state(undefined));
  });

  it('the fitted rule: a + b (f_bar - 1) on the smoothed reported slowdown, clamped; 0 without a report; malformed rules refused', () => {
    expect(smoothedSlowdown(state(4))).toBeCloseTo(4, 10);
    expect(smoothedSlowdown(state(undefined))).toBe(1);
    expect(tollOf({ version: 4, a: 1, b: 0 })(state(4))).toBe(1);
    expect(tollOf({ version: 4, a: 1, b: 0.5 })(state(3))).toBeCloseTo(2, 10);
    expect(tollOf({ version: 4, a: 1, b: 100 })(state(3))).toBe(TOLL_MAX);
    expect(tollOf({ version: 4, a: -5, b: 0 })(state(3))).toBe(0);
    expect(tollOf({ version: 4, a: 1, b: 1 })(state(undefined))).toBe(0);
    expect(() => tollOf({ version: 4, a: 1, b: NaN })).toThrow(/finite a and b/);
    expect(() => tollOf({ version: 3, a: 1, b: 0 } as never)).toThrow(/version 4/);
  });

  it('a toll of 0 decides as the planner it wraps; a high toll on a loaded cloud never puts more on it', async () => {
    const inner: Planner = new FixedPricePlanner(1, DEFAULT_SWITCHING, false), ctx = { model, energy, objective: OBJECTIVE };
    // units on the cloud; API cloud-only (every layer and the embeddings on the cloud) counts as the most
    const onCloud = (d: { plan: PlanCounts }) => (d.plan.apiCloudOnly ? Infinity : [...d.plan.cloudHeads, ...d.plan.cloudWidth].reduce((a, x) => a + x, 0));
    for (const f of [1, 2, 4, 8]) {
      const s = state(f);
      const a = await inner.decide(s, ctx), b = await new CongestionPricePlanner(inner, () => 0, 'toll 0').decide(s, ctx);
      expect(b).toEqual(a);
      const c = await new CongestionPricePlanner(inner, () => 8, 'toll 8').decide(s, ctx);
      expect(onCloud(c)).toBeLessThanOrEqual(onCloud(a));
    }
  });

  it('the reciprocal toll: the toll times the share of the others\' load held by edges that price congestion, none without it', () => {
    const fitted = tollOf({ version: 4, a: 1, b: 0.5 }), reciprocal = reciprocalToll(fitted);
    const withShare = (share: number | undefined): DecisionState => {
      const s = state(3);
      return { ...s, cloud: { ...s.cloud!, ...(share !== undefined ? { pricingShare: share } : {}) } };
    };
    expect(reciprocal(withShare(1))).toBeCloseTo(fitted(state(3)), 12);
    expect(reciprocal(withShare(0.25))).toBeCloseTo(0.25 * fitted(state(3)), 12);
    expect(reciprocal(withShare(0))).toBe(0);
    expect(reciprocal(withShare(undefined))).toBe(0); // an outside load, or a server that does not say
    expect(reciprocal(state(undefined))).toBe(0);
  });

  it('the simulator reports the share; with every edge pricing the reciprocal toll is the toll, with one it is no toll', async () => {
    const cfg = cfgOf(6, 1 / 3), rule = tollOf({ version: 4, a: 1, b: 0.5 });
    const solver = () => new FixedPricePlanner(1, DEFAULT_SWITCHING, false);
    const seen: number[] = [];
    const spy = (toll: (s: DecisionState) => number) => (s: DecisionState) => (s.cloud?.pricingShare !== undefined && seen.push(s.cloud.pricingShare), toll(s));
    const run = (c: SharedCloudConfig, tolled: (i: number) => boolean, toll: (s: DecisionState) => number) =>
      runSharedCloudEpisode(c, (i) => (tolled(i) ? new CongestionPricePlanner(solver(), toll, 'toll') : solver()), 3);
    const all = () => true, first = (i: number) => i === 0;
    const tolled = await run(cfg, all, rule), none = await run(cfg, all, () => 0);
    expect(tolled).not.toEqual(none); // the toll changes this episode
    expect(await run({ ...cfg, pricing: all }, all, spy(reciprocalToll(rule)))).toEqual(tolled);
    expect(seen.some((x) => x === 1)).toBe(true);
    expect(await run({ ...cfg, pricing: first }, first, reciprocalToll(rule))).toEqual(none);
    seen.length = 0;
    const half = (i: number) => i < 3;
    await run({ ...cfg, pricing: half }, half, spy(reciprocalToll(rule)));
    expect(seen.every((x) => x >= 0 && x <= 1) && seen.some((x) => x > 0 && x < 1)).toBe(true);
  });
});
