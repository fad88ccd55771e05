// The API cloud-only baseline: a planner behind the same interface as every other (run by the
// same evaluation path), priced as the engine runs it (token ids up, the cloud's whole model, the
// logits the sampler reads down, no edge compute), and the bytes it is charged are the bytes the
// real engine's link moves.
import { describe, expect, it } from 'vitest';
import { apiCloudOnlyPlan, buildModelGraph, generate, PRESETS } from '@splitwise/core';
import { makeRandomModel } from '@splitwise/checkpoint';
import { createLocalSplit } from '@splitwise/runtime-node';
import { apiCloudOnlyCounts, CostModel, planCounts, radioEnergyJ, requestCost, type NetworkState } from './cost-model.ts';
import { runEpisodes, summarize } from './evaluate.ts';
import { CHANNEL_SPECS, MarkovChannel, OUTAGES } from './env/channel.ts';
import { loadAccuracy, loadProfile } from './node/files.ts';
import { cloudOnlyCounts } from './optimum.ts';
import { AdaptiveLayerSplitPlanner, ApiCloudOnlyPlanner, CloudOnlyPlanner, EdgeOnlyPlanner, OptimumPlanner, type Planner } from './planners.ts';
import { costModelFor, envConfig } from './scenario.ts';

const edge = loadProfile('rpi5-8gb'), cloud = loadProfile('node-epyc-2vcpu');
const xl = costModelFor({ edge, cloud, accuracy: loadAccuracy(), config: PRESETS['gpt2-xl'] });

describe('API cloud-only planner', () => {
  it('shares the planners\' interface: the evaluation runs it beside the others on the same episodes', async () => {
    const model = costModelFor({ edge, cloud, accuracy: loadAccuracy(), config: PRESETS.gpt2 });
    const cfg = envConfig(model, edge, (rng) => new MarkovChannel(CHANNEL_SPECS.lte, rng, OUTAGES), 6);
    const planners: Planner[] = [new EdgeOnlyPlanner(), new CloudOnlyPlanner(), new ApiCloudOnlyPlanner(), new AdaptiveLayerSplitPlanner(), new OptimumPlanner()];
    const seeds = [1_000_001, 1_000_002];
    const summaries = new Map<string, ReturnType<typeof summarize>>();
    for (const p of planners) {
      const logs = await runEpisodes(cfg, p, seeds);
      summaries.set(p.name, summarize(logs));
      if (!(p instanceof ApiCloudOnlyPlanner)) continue;
      for (const i of logs.flatMap((l) => l.infos)) {
        // ids up once each (the prompt, then every new token but the last), one logit and its id down a pass
        expect(i.bytesUp).toBe(4 * (i.request.prompt + i.request.gen - 1));
        expect(i.bytesDown).toBe(8 * i.request.gen);
        expect(i.syncs).toBe(i.request.gen);
        expect(i.precision).toBe('fp32');
        expect(i.cloudFraction).toBe(1);
        expect(i.memoryOk).toBe(true); // the edge holds only the ids
      }
    }
    const api = summaries.get('API cloud-only')!, checkpointed = summaries.get('cloud-only')!;
    expect(api.decisions).toBe(12);
    expect(api.meanAccuracyLoss).toBe(0);
    expect(api.syncsPerToken).toBe(1);
    // no partition checkpoint going down at every token: faster than checkpointed cloud-only on LTE
    expect(api.meanServiceS).toBeLessThan(checkpointed.meanServiceS);
  });

  it('the planner decides the API plan whatever the state', async () => {
    const d = await new ApiCloudOnlyPlanner().decide({} as never, { model: xl, energy: undefined as never, objective: undefined as never });
    expect(d.precision).toBe('fp32');
    expect(d.plan).toEqual(apiCloudOnlyCounts(xl.graph));
    expect(planCounts(xl.graph, apiCloudOnlyPlan(xl.graph))).toEqual(apiCloudOnlyCounts(xl.graph));
  });
});

describe('API cloud-only in the cost model', () => {
  const net: NetworkState = { rttMs: 60, upMbps: 1.1, downMbps: 1.1 };
  const req = { prompt: 96, gen: 48 };
  const energy = { activeW: 6, idleW: 2.5, radio: edge.radio!.lte };

  it('per pass: one RTT, the ids up, the cloud\'s layers and LM head, the logits down; no edge compute', () => {
    const c = xl.compile(apiCloudOnlyCounts(xl.graph), 'fp32');
    const K = xl.cloudK, L = xl.graph.config.nLayer;
    const cloudMs = (n: number, P: number): number => L * (K.of('layer', n).a + K.of('layer', n).b * P) + K.of('lmHead', 1).a + K.of('lmHead', 1).b * P;
    const wire = (up: number, down: number): number => (up * 8e-3) / net.upMbps + (down * 8e-3) / net.downMbps;
    let want = net.rttMs + wire(4 * req.prompt, 8) + cloudMs(req.prompt, 0);
    const prefill = want;
    for (let k = 1; k < req.gen; k++) want += net.rttMs + wire(4, 8) + cloudMs(1, req.prompt + k - 1);
    const cost = requestCost(xl, c, req, net, energy);
    expect(cost.prefillMs).toBeCloseTo(prefill, 6);
    expect(cost.latencyMs).toBeCloseTo(want, 6);
    expect(cost.edgeComputeMs).toBe(0);
    expect(cost.bytesUp).toBe(4 * (req.prompt + req.gen - 1));
    expect(cost.bytesDown).toBe(8 * req.gen);
    expect(cost.syncs).toBe(req.gen);
    expect(cost.accuracyLoss).toBe(0);
    // the edge only waits and talks: idle power and the radio, no compute
    expect(cost.energyJ).toBeCloseTo((energy.idleW * cost.latencyMs) / 1000 + radioEnergyJ(energy.radio, cost.bytesUp, cost.bytesDown, cost.latencyMs), 9);
    expect(cost.radioJ).toBeGreaterThan(0);
    expect(xl.edgeMemoryBytes(c.counts, req.prompt + req.gen)).toBe(4 * (req.prompt + req.gen));
  });

  it('a sampler that reads every logit pays for the whole row (fp32); checkpointed cloud-only pays for every layer\'s row', () => {
    const full = new CostModel(xl.graph, edge, cloud, xl.accuracy, { apiLogits: 0 });
    const top40 = new CostModel(xl.graph, edge, cloud, xl.accuracy, { apiLogits: 40 });
    const V = xl.graph.config.vocabSize;
    expect(requestCost(full, full.compile(apiCloudOnlyCounts(xl.graph), 'fp32'), req, net).bytesDown).toBe(4 * V * req.gen);
    expect(requestCost(top40, top40.compile(apiCloudOnlyCounts(xl.graph), 'fp32'), req, net).bytesDown).toBe(8 * 40 * req.gen);
    // at 1.1 Mbit/s, the figures: checkpointed cloud-only takes minutes a request, the API tens of seconds
    const api = requestCost(xl, xl.compile(apiCloudOnlyCounts(xl.graph), 'fp32'), req, net);
    const checkpointed = requestCost(xl, xl.compile(cloudOnlyCounts(xl.graph), 'fp32'), req, net);
    expect(checkpointed.bytesDown).toBeGreaterThan(1000 * api.bytesDown);
    expect(api.latencyMs).toBeLessThan(checkpointed.latencyMs / 5);
  });

  it('charges the bytes and round trips the real engine\'s link moves (greedy and whole-row, tiny GPT-2 and the story shape)', async () => {
    for (const config of [PRESETS.tiny, PRESETS['llama-tiny']]) {
      const ckpt = makeRandomModel(config, 5), graph = buildModelGraph(config);
      const s = await createLocalSplit(ckpt, apiCloudOnlyPlan(graph), { intraOpNumThreads: 1 });
      const prompt = [5, 9, 2, 7, 1, 3], gen = 5;
      for (const apiLogits of [1, 0]) {
        const model = new CostModel(graph, edge, cloud, undefined, { apiLogits });
        await s.edge.reset();
        const before = { ...s.link.stats };
        let n = 0;
        for await (const _ of generate(s.edge, prompt, { maxNewTokens: gen, ...(apiLogits === 0 ? { temperature: 1 } : {}) })) n++;
        expect(n).toBe(gen);
        const cost = requestCost(model, model.compile(apiCloudOnlyCounts(graph), 'fp32'), { prompt: prompt.length, gen }, { rttMs: 1, upMbps: 100, downMbps: 100 });
        expect(s.link.stats.bytesUp - before.bytesUp).toBe(cost.bytesUp);
        expect(s.link.stats.bytesDown - before.bytesDown).toBe(cost.bytesDown);
        expect(s.link.stats.calls - before.calls - 1).toBe(cost.syncs); // generate()'s reset, then one call a pass
      }
      await s.sessions.edge.release();
      await s.sessions.cloud.release();
    }
  }, 60_000);
});
