// Issue 10: how much room is there for any policy to beat the per-decision DPP rule? A clairvoyant
// planner prices every layer cut x wire precision (and API cloud-only) with the network (and cloud load) the request
// will actually meet over its whole service, read from an identical copy of the episode's channel,
// and keeps the least J. No real policy can do better per decision at the same objective; the gap
// between it and the DPP layer rule (which prices the network measured now) bounds what a better
// network forecast, learned or not, could buy.
//
//   nice npx tsx scripts/policy-headroom.ts [--episodes 12] [--families lte,5g+outages,lte-degraded,fcc,norway-tram]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PRESETS, WIRE_PRECISIONS } from '@splitwise/core';
import { apiCloudOnlyCounts, expectedTailJ, requestCost } from '../packages/policy/src/cost-model.ts';
import { CHANNEL_SPECS, MarkovChannel, OUTAGES, readTrace, scaledSpec, TraceChannel, type Channel } from '../packages/policy/src/env/channel.ts';
import { DEFAULT_WORKLOAD, SplitwiseEnv, type EnvConfig } from '../packages/policy/src/env/simulator.ts';
import { runEpisodes, summarize } from '../packages/policy/src/evaluate.ts';
import type { DecisionState } from '../packages/policy/src/features.ts';
import { objectiveCoefficients } from '../packages/policy/src/objective.ts';
import { AdaptiveLayerSplitPlanner, layerSplitCounts, queueStateOf, type Decision, type PlanContext, type Planner } from '../packages/policy/src/planners.ts';
import { modelFootprint } from '../packages/policy/src/policy-runner.ts';
import { Rng } from '../packages/policy/src/rng.ts';
import { costModelFor, envConfig, memoryRange, EVAL_SEED_BASE, OBJECTIVE } from '../packages/policy/src/scenario.ts';
import { loadAccuracy, loadProfile } from '../packages/policy/src/node/files.ts';

const { values: args } = parseArgs({ options: { episodes: { type: 'string', default: '12' }, families: { type: 'string', default: 'lte,5g+outages,lte-degraded,fcc,norway-tram' }, traces: { type: 'string', default: '../shared/data/traces' } } });
const edge = loadProfile('rpi5-8gb'), cloud = loadProfile('node-epyc-2vcpu');
const model = costModelFor({ edge, cloud, accuracy: loadAccuracy(), config: PRESETS['gpt2-xl'] });
const memory = memoryRange(model, edge, modelFootprint(model.graph));
const traceFiles = (dir: string, keep: (f: string) => boolean) =>
  readdirSync(dir).filter((f) => keep(f) && !f.endsWith('.md')).sort().filter((_, i) => i % 2 === 1).map((f) => ({ name: f, samples: readTrace(readFileSync(join(dir, f), 'utf8'), f).samples })).filter((t) => t.samples.length > 1);
/** S_ref of the evaluation (eval-policy.ts: the DPP rule's mean service at a trickle of load), 28-33 s on every family once API cloud-only is a candidate. */
const REF_S = 30;
const FAMILIES: Record<string, { channel: () => (rng: Rng) => Channel; refS: number }> = {
  lte: { channel: () => (r) => new MarkovChannel(CHANNEL_SPECS.lte, r), refS: REF_S },
  '5g+outages': { channel: () => (r) => new MarkovChannel(CHANNEL_SPECS['5g'], r, OUTAGES), refS: REF_S },
  'lte-degraded': { channel: () => (r) => new MarkovChannel(scaledSpec(CHANNEL_SPECS.lte, 0.4, 1.6), r, OUTAGES), refS: REF_S },
  fcc: { channel: () => { const ts = traceFiles(join(args.traces, 'fcc'), () => true); return (r) => { const t = r.pick(ts); return new TraceChannel(`fcc:${t.name}`, t.samples, r, { upRatio: 0.5, rttMs: 20, rttSigma: 0.3, radio: 'wifi' }); }; }, refS: REF_S },
  'norway-tram': { channel: () => { const ts = traceFiles(join(args.traces, 'norway'), (f) => /^(?:norway_)?tram[._]/.test(f)); return (r) => { const t = r.pick(ts); return new TraceChannel(`tram:${t.name}`, t.samples, r, { upRatio: 0.5, rttMs: 60, rttSigma: 0.3, radio: 'lte' }); }; }, refS: REF_S },
};

/** The clairvoyant: J of each layer cut x precision at the network the request will meet. */
function clairvoyant(cfg: EnvConfig, env: SplitwiseEnv, seed: number): Planner {
  return {
    name: 'clairvoyant',
    decide: (s: DecisionState, ctx: PlanContext): Decision => {
      const t = (env as unknown as { t: number }).t;
      // an identical channel (the env's is the first fork of the seed's root), read ahead freely
      const ahead = cfg.channel(new Rng(seed).fork()), step0 = Math.floor(t / 500), rec: ReturnType<Channel['at']>[] = [];
      // every sample from now on, kept (the channel itself keeps only a window): read in order once
      const peek = { at: (ms: number) => { const i = Math.max(0, Math.floor(ms / 500) - step0); while (rec.length <= i) rec.push(ahead.at((step0 + rec.length) * 500)); return rec[i]!; } };
      const q = queueStateOf(s), { cL, cE, cA } = objectiveCoefficients(ctx.objective, q, s.request.gen);
      let best: Decision | undefined, bestJ = Infinity;
      // k = -1: API cloud-only (token ids up), as the DPP rule has it
      for (let k = -1; k <= model.graph.config.nLayer; k++) {
        const plan = k === -1 ? apiCloudOnlyCounts(model.graph) : layerSplitCounts(model, k);
        if (k > 0 && model.edgeMemoryBytes(plan, s.request.prompt + s.request.gen) > s.memoryFreeBytes) continue;
        for (const p of k === model.graph.config.nLayer || k === -1 ? (['fp32'] as const) : WIRE_PRECISIONS) {
          const c = model.compile(plan, p), cost = requestCost(model, c, s.request, (ms) => peek.at(t + ms), ctx.energy);
          const J = cL * (cost.latencyMs / 1000) + cE * (cost.energyJ + (c.usesCloud ? expectedTailJ(ctx.energy.radio, q.Q > 1, q.lambdaPerS) : 0)) + cA * cost.accuracyLoss;
          if (J < bestJ) [best, bestJ] = [{ plan, precision: p }, J];
        }
      }
      return best!;
    },
  };
}

const seeds = Array.from({ length: Number(args.episodes) }, (_, i) => EVAL_SEED_BASE + 500 + i);
console.log('| family | load | DPP layer latency s | clairvoyant latency s | ratio | DPP layer reward | clairvoyant reward |');
console.log('|---|---|---:|---:|---:|---:|---:|');
for (const fam of args.families.split(',')) {
  const F = FAMILIES[fam];
  if (!F) throw new Error(`unknown family ${fam}`);
  const channel = F.channel();
  for (const [load, range] of [['light', [0.1, 0.3]], ['heavy', [0.45, 0.65]]] as const) {
    const cfg: EnvConfig = { ...envConfig(model, edge, channel, 48, memory), nominalServiceS: F.refS, workload: { ...DEFAULT_WORKLOAD, loadMin: range[0], loadMax: range[1] } };
    const dpp = summarize(await runEpisodes(cfg, new AdaptiveLayerSplitPlanner(), seeds));
    // the clairvoyant needs the env's clock: run its episodes by hand
    const env = new SplitwiseEnv(cfg);
    let lat = 0, rw = 0, n = 0;
    for (const seed of seeds) {
      let s = env.reset(seed);
      const p = clairvoyant(cfg, env, seed);
      for (;;) {
        const d = p.decide(s, { model, energy: env.energyModel(), objective: OBJECTIVE }) as Decision;
        const r = env.step(d.plan, d.precision);
        lat += r.info.latencyS;
        rw += r.reward;
        n++;
        s = r.state;
        if (r.done) break;
      }
    }
    console.log(`| ${fam} | ${load} | ${dpp.meanLatencyS.toFixed(1)} | ${(lat / n).toFixed(1)} | ${(lat / n / dpp.meanLatencyS).toFixed(3)} | ${dpp.meanReward.toFixed(2)} | ${(rw / n).toFixed(2)} |`);
  }
}
