// Issue 10's opt-in simulator terms (dynamics.ts) and the switch-aware DPP planner: the old
// environment is untouched without them; switching costs and contention are priced as documented;
// the planner is the DPP layer rule when nothing is in place, and holds its plan when a switch is
// not worth it. Runs on the gpt2 shape and the page's LLaMA story model (stories260K).
import { readFileSync } from 'node:fs';
import { PRESETS, buildModelGraph } from '@splitwise/core';
import { describe, expect, it } from 'vitest';
import { CostModel, requestCost, type PlanCounts } from './cost-model.ts';
import { DEFAULT_CONTENTION, DEFAULT_SWITCHING, CloudLoadProcess, type DynamicsOptions, allWeightsResident, expectedSlowdown, switchCost } from './dynamics.ts';
import { MarkovChannel, CHANNEL_SPECS } from './env/channel.ts';
import { SplitwiseEnv } from './env/simulator.ts';
import type { DecisionState } from './features.ts';
import { FEATURE_DIM, FEATURE_DIM_V2, featureVector, featureVectorV2 } from './features.ts';
import { AdaptiveLayerSplitPlanner, LoadForecastPlanner, SwitchAwarePlanner, layerSplitCounts, withLoadForecast } from './planners.ts';
import { parseProfile } from './profile.ts';
import { Rng } from './rng.ts';
import { OBJECTIVE, envConfig, memoryRange } from './scenario.ts';
import { modelFootprint } from './policy-runner.ts';

const prof = (n: string) => parseProfile(JSON.parse(readFileSync(new URL(`../profiles/${n}.json`, import.meta.url), 'utf8')));
const edge = prof('rpi5-8gb-chromium-wasm'), cloud = prof('node-epyc-2vcpu');
const acc = JSON.parse(readFileSync(new URL('../profiles/accuracy-gpt2-random.json', import.meta.url), 'utf8'));
const accuracy = { klPerResidual: acc.klPerResidual, klPerPartial: acc.klPerPartial, source: 'test' };
const SHAPES = { gpt2: PRESETS.gpt2, stories260K: PRESETS.stories260K };
const energyOf = () => ({ activeW: edge.power!.activeW, idleW: edge.power!.idleW ?? 0, radio: edge.radio!.wifi });

function env(model: CostModel, dynamics?: DynamicsOptions) {
  const cfg = envConfig(model, edge, (r: Rng) => new MarkovChannel(CHANNEL_SPECS.lte, r), 16, memoryRange(model, edge, modelFootprint(model.graph)));
  return new SplitwiseEnv(dynamics ? { ...cfg, dynamics } : cfg);
}

for (const [name, config] of Object.entries(SHAPES)) {
  const model = new CostModel(buildModelGraph(config), edge, cloud, accuracy);
  const L = config.nLayer;
  describe(`dynamics on the ${name} shape`, () => {
    it('switching nothing costs nothing; the edge gaining layers loads their weights unless all are resident', () => {
      const net = { rttMs: 50, upMbps: 5, downMbps: 10 };
      const a = layerSplitCounts(model, 0), b = layerSplitCounts(model, L);
      expect(switchCost(model, a, { counts: a, precision: 'int8' }, DEFAULT_SWITCHING, net, energyOf()).ms).toBe(0);
      expect(switchCost(model, undefined, { counts: b, precision: 'fp32' }, DEFAULT_SWITCHING, net, energyOf()).ms).toBe(0);
      const toEdge = switchCost(model, a, { counts: b, precision: 'fp32' }, DEFAULT_SWITCHING, net, energyOf());
      const g = model.graph, unit = g.layers[0]!.heads[0]!.cost.weightBytes;
      const ffn = g.layers[0]!.ffnChunks.reduce((x, c) => x + c.width, 0);
      expect(ffn).toBe(config.nInner);
      expect(toEdge.layers).toBe(L);
      // edge load of every unit's weights + setup per layer + one RTT (the cloud is left)
      const bytes = L * g.attnUnits * unit;
      expect(toEdge.ms).toBeGreaterThan((bytes / (DEFAULT_SWITCHING.edgeLoadMBps * 1e6)) * 1000 + L * DEFAULT_SWITCHING.perLayerSetupMs + net.rttMs);
      const resident = switchCost(model, a, { counts: b, precision: 'fp32' }, DEFAULT_SWITCHING, net, energyOf(), 0, true);
      expect(resident.ms).toBeCloseTo(L * DEFAULT_SWITCHING.perLayerSetupMs + net.rttMs, 6);
      expect(toEdge.energyJ).toBeGreaterThan(0);
      // mid-answer: the cloud gaining heads gets their checkpoint rows up and recomputes their KV
      const mid = switchCost(model, b, { counts: a, precision: 'fp16' }, DEFAULT_SWITCHING, net, energyOf(), 40);
      const between = switchCost(model, b, { counts: a, precision: 'fp16' }, DEFAULT_SWITCHING, net, energyOf(), 0);
      expect(mid.bytesUp).toBe(40 * L * g.wireBytesPerToken.fp16);
      expect(mid.ms).toBeGreaterThan(between.ms + (mid.bytesUp * 8e-3) / net.upMbps - 1e-9);
      expect(allWeightsResident(model, 1e12, 64)).toBe(true);
      expect(allWeightsResident(model, 1, 64)).toBe(false);
    });

    it('a contended cloud only slows the cloud: factor 1 changes nothing, and cloud-only slows by its cloud compute', () => {
      const net = { rttMs: 30, upMbps: 20, downMbps: 40 };
      const req = { prompt: 24, gen: 12 };
      const co = model.compile(layerSplitCounts(model, 0), 'fp16'), eo = model.compile(layerSplitCounts(model, L), 'fp32');
      expect(requestCost(model, co, req, net, energyOf(), () => 1)).toEqual(requestCost(model, co, req, net, energyOf()));
      expect(requestCost(model, eo, req, net, energyOf(), () => 3).latencyMs).toBe(requestCost(model, eo, req, net).latencyMs);
      expect(requestCost(model, co, req, net, energyOf(), () => 3).latencyMs).toBeGreaterThan(requestCost(model, co, req, net).latencyMs);
    });

    it('without a plan in place the switch-aware planner is the DPP layer rule; with a costly switch it holds its plan', () => {
      const dpp = new AdaptiveLayerSplitPlanner(), sw = new SwitchAwarePlanner({ ...DEFAULT_SWITCHING, edgeLoadMBps: 1e-3, perLayerSetupMs: 1e7 }, 1);
      const e = env(model);
      let s = e.reset(7);
      const ctx = { model, energy: e.energyModel(), objective: OBJECTIVE };
      let held = 0;
      for (let i = 0; i < 12; i++) {
        const a = dpp.decide(s, ctx), b = sw.decide(s, ctx);
        expect(b.plan.cloudHeads).toEqual(a.plan.cloudHeads);
        expect(b.precision).toBe(a.precision);
        // with the plan in place being an edge-light one, moving layers to the edge is priced out
        const cur: PlanCounts = layerSplitCounts(model, 0);
        const h = sw.decide({ ...s, current: { counts: cur, precision: 'fp16' } }, ctx);
        if (h.plan.cloudHeads.every((x, l) => x === cur.cloudHeads[l])) held++;
        s = e.step(a.plan, a.precision).state;
      }
      expect(held).toBe(12);
    });
  });
}

describe('dynamics in the simulator', () => {
  const model = new CostModel(buildModelGraph(PRESETS.gpt2), edge, cloud, accuracy);
  it('is opt-in: the same seed gives the same world and rewards without it, and the state carries nothing new', async () => {
    const a = env(model), b = env(model);
    let sa = a.reset(3), sb = b.reset(3);
    expect(sa.cloud).toBeUndefined();
    expect(sa.current).toBeUndefined();
    const dpp = new AdaptiveLayerSplitPlanner();
    for (let i = 0; i < 10; i++) {
      const d = dpp.decide(sa, { model, energy: a.energyModel(), objective: OBJECTIVE });
      const ra = a.step(d.plan, d.precision), rb = b.step(d.plan, d.precision);
      expect(ra.reward).toBe(rb.reward);
      expect(ra.info.switchS).toBeUndefined();
      sa = ra.state;
      sb = rb.state;
    }
    expect(featureVector(sa, 1e9)).toEqual(featureVector(sb, 1e9));
  });

  it('charges a switch in the service time, reports the cloud load and the plan in place; arrivals do not depend on the decisions', () => {
    const dyn = { switching: DEFAULT_SWITCHING, contention: DEFAULT_CONTENTION };
    const a = env(model, dyn), b = env(model, dyn);
    let sa = a.reset(11), sb = b.reset(11);
    expect(sa.cloud!.slowdown).toBeGreaterThanOrEqual(1);
    expect(sa.cloud!.history).toHaveLength(8);
    const plans = [layerSplitCounts(model, 0), layerSplitCounts(model, 6)];
    let switched = 0;
    for (let i = 0; i < 8; i++) {
      const ra = a.step(plans[i % 2]!, 'fp16'), rb = b.step(plans[0]!, 'fp16');
      expect(ra.info.request).toEqual(rb.info.request); // same requests whatever was decided
      if (i > 0) {
        expect(ra.info.switched).toBe(true);
        expect(ra.info.switchS!).toBeGreaterThan(0);
        switched++;
      }
      expect(rb.info.switchS).toBe(0);
      expect(ra.state.current!.counts.cloudHeads).toEqual(plans[i % 2]!.cloudHeads);
      expect(featureVectorV2(ra.state, 1e9)).toHaveLength(FEATURE_DIM_V2);
      expect(Array.from(featureVectorV2(ra.state, 1e9).slice(0, FEATURE_DIM))).toEqual(Array.from(featureVector(ra.state, 1e9)));
      sa = ra.state;
      sb = rb.state;
    }
    expect(switched).toBe(7);
  });

  it('the load forecast as a wrapper: nothing changes without a report; with one it is the switch-aware planner\'s own forecast', () => {
    const e0 = env(model), s0 = e0.reset(3);
    expect(withLoadForecast(s0, model, DEFAULT_CONTENTION)).toBe(s0);
    const e = env(model, { switching: DEFAULT_SWITCHING, contention: DEFAULT_CONTENTION });
    let s = e.reset(21);
    const wrapped = new LoadForecastPlanner(new SwitchAwarePlanner(DEFAULT_SWITCHING, 1), DEFAULT_CONTENTION), own = new SwitchAwarePlanner(DEFAULT_SWITCHING, 1, false, DEFAULT_CONTENTION);
    const ctx = { model, energy: e.energyModel(), objective: OBJECTIVE };
    let moved = 0;
    for (let i = 0; i < 12; i++) {
      const f = withLoadForecast(s, model, DEFAULT_CONTENTION);
      // the forecast reverts toward the process's mean, and leaves the rest of the state alone
      expect(f.cloud!.load).toBe(s.cloud!.load);
      expect(f.request).toBe(s.request);
      if (Math.abs(f.cloud!.slowdown - s.cloud!.slowdown) > 1e-3) moved++;
      const d = wrapped.decide(s, ctx) as { plan: PlanCounts; precision: string }, o = own.decide(s, ctx);
      expect(d.precision).toBe(o.precision);
      expect(Array.from(d.plan.cloudHeads)).toEqual(Array.from(o.plan.cloudHeads));
      s = e.step(d.plan, d.precision as 'fp32').state;
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('the load process persists and the expected slowdown reverts to the stationary mean', () => {
    const p = new CloudLoadProcess(DEFAULT_CONTENTION, new Rng(5));
    const q = new CloudLoadProcess(DEFAULT_CONTENTION, new Rng(5));
    expect(p.load(123_456)).toBe(q.load(123_456));
    expect(Math.abs(p.load(10_000) - p.load(11_000))).toBeLessThan(0.2);
    const o = DEFAULT_CONTENTION, mu = Math.log(o.meanLoad / (1 - o.meanLoad));
    expect(expectedSlowdown(0.8, o, 0)).toBeCloseTo(5, 6);
    expect(expectedSlowdown(0.8, o, 1e6)).toBeCloseTo(1 + Math.exp(mu + o.sigmaLogit ** 2 / 2), 1);
  });
});
