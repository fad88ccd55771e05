import { PRESETS } from '@splitwise/core';
import { runEpisodes, summarize } from '../packages/policy/src/evaluate.ts';
import { AdaptiveLayerSplitPlanner, OptimumPlanner, SwitchAwarePlanner } from '../packages/policy/src/planners.ts';
import { costModelFor, envConfig, memoryRange } from '../packages/policy/src/scenario.ts';
import { modelFootprint } from '../packages/policy/src/policy-runner.ts';
import { MarkovChannel, CHANNEL_SPECS, OUTAGES, scaledSpec } from '../packages/policy/src/env/channel.ts';
import { DEFAULT_SWITCHING, DEFAULT_CONTENTION } from '../packages/policy/src/dynamics.ts';
import { loadAccuracy, loadProfile } from '../packages/policy/src/node/files.ts';
import { DEFAULT_WORKLOAD } from '../packages/policy/src/env/simulator.ts';
const edge = loadProfile('rpi5-8gb'), cloud = loadProfile('node-epyc-2vcpu'), accuracy = loadAccuracy();
const model = costModelFor({ edge, cloud, accuracy, config: PRESETS['gpt2-xl'] });
const mem = memoryRange(model, edge, modelFootprint(model.graph));
const kind = (process.argv[2] ?? 'lte') as 'lte';
const cont = process.argv[3] === 'c';
const chan = (r: any) => (kind as string) === '5go' ? new MarkovChannel(CHANNEL_SPECS['5g'], r, OUTAGES) : (kind as string) === 'deg' ? new MarkovChannel(scaledSpec(CHANNEL_SPECS.lte, 0.4, 1.6), r, OUTAGES) : new MarkovChannel(CHANNEL_SPECS[kind], r);
const base = envConfig(model, edge, chan, 48, mem);
const cfg = { ...base, nominalServiceS: Number(process.argv[4] ?? 120), workload: { ...DEFAULT_WORKLOAD, loadMin: 0.45, loadMax: 0.65 }, dynamics: { switching: DEFAULT_SWITCHING, ...(cont ? { contention: DEFAULT_CONTENTION } : {}) } };
const seeds = [1, 2, 3, 4];
for (const p of [new AdaptiveLayerSplitPlanner(), new SwitchAwarePlanner(DEFAULT_SWITCHING, 1), new SwitchAwarePlanner(DEFAULT_SWITCHING, 4), new SwitchAwarePlanner(DEFAULT_SWITCHING, 16), new SwitchAwarePlanner(DEFAULT_SWITCHING, 4, true)]) {
  const t = performance.now();
  const s = summarize(await runEpisodes(cfg, p, seeds));
  console.log(p.name.padEnd(40), 'lat', s.meanLatencyS.toFixed(1), 'svc', s.meanServiceS.toFixed(1), 'sw/req', s.switchesPerRequest?.toFixed(2), 'swS', s.meanSwitchS?.toFixed(2), 'cloud', s.meanCloudFraction.toFixed(2), 'Q', s.meanQueue.toFixed(2), ((performance.now() - t) / 1000).toFixed(1) + 's');
}
