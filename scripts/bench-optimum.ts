// Decision time of the exact optimum (optimum.ts) on simulator states of the gpt2 and gpt2-xl shapes, and a
// check that it is never worse than the adaptive layer split (a subset of its space). 3 episodes x 24
// requests on each of the four Markov channels, planning with the optimum. npx tsx scripts/bench-optimum.ts
import { PRESETS } from '@splitwise/core';
import { costModelFor, envConfig, memoryRange, evalScenarios } from '../packages/policy/src/scenario.ts';
import { loadAccuracy, loadProfile } from '../packages/policy/src/node/files.ts';
import { modelFootprint } from '../packages/policy/src/policy-runner.ts';
import { SplitwiseEnv } from '../packages/policy/src/env/simulator.ts';
import { AdaptiveLayerSplitPlanner, queueStateOf } from '../packages/policy/src/planners.ts';
import { exactOptimum } from '../packages/policy/src/optimum.ts';
import { evaluateObjective } from '../packages/policy/src/objective.ts';
import { percentile } from '../packages/policy/src/evaluate.ts';
const edge = loadProfile('rpi5-8gb'), cloud = loadProfile('node-epyc-2vcpu'), accuracy = loadAccuracy();
for (const name of ['gpt2', 'gpt2-xl'] as const) {
  const model = costModelFor({ edge, cloud, accuracy, config: PRESETS[name] });
  const mem = memoryRange(model, edge, modelFootprint(model.graph));
  const sc = evalScenarios([]);
  const ad = new AdaptiveLayerSplitPlanner();
  const times: number[] = [], btimes: number[] = [];
  let n = 0, bound = 0, worse = 0, better = 0, peak = 0, maxGain = 0;
  for (const s of sc) {
    const cfg = envConfig(model, edge, s.channel, 24, mem);
    const env = new SplitwiseEnv(cfg);
    for (let ep = 0; ep < 3; ep++) {
      let st = env.reset(777 + ep);
      for (;;) {
        const ctx = { model, energy: env.energyModel(), objective: cfg.objective };
        const d = ad.decide(st, ctx);
        const aJ = evaluateObjective(model, model.compile(d.plan, d.precision), st.request, st.net, ctx.energy, cfg.objective, queueStateOf(st)).J;
        const t = performance.now();
        const o = exactOptimum(model, st.request, st.net, ctx.energy, cfg.objective, queueStateOf(st), st.memoryFreeBytes);
        const ms = performance.now() - t;
        times.push(ms);
        if (o.memoryBound) { bound++; btimes.push(ms); peak = Math.max(peak, o.frontierPeak); }
        if (o.J > aJ * (1 + 1e-9)) worse++;
        if (o.J < aJ * (1 - 1e-9)) { better++; maxGain = Math.max(maxGain, 1 - o.J / aJ); }
        n++;
        const r = env.step(o.counts, o.precision);
        if (r.done) break;
        st = r.state;
      }
    }
  }
  console.log(`${name}: ${n} states, ${bound} memory-bound; optimum worse than adaptive: ${worse}; strictly better: ${better} (max ${(100 * maxGain).toFixed(2)} %); decision ms p50 ${percentile(times, 0.5).toFixed(1)} p99 ${percentile(times, 0.99).toFixed(1)} max ${Math.max(...times).toFixed(1)}; memory-bound p50 ${percentile(btimes, 0.5).toFixed(1)} p99 ${percentile(btimes, 0.99).toFixed(1)}; frontier peak ${peak}`);
}
