// Issue 10: two cheap ways a fitted policy could lower the episode cost under contention, measured
// in-sample. On the contention families (as scripts/policy-contention.ts: Markov Wi-Fi and LTE, the
// cloud's load an OU process, switching costs on, two energy budgets), on TRAINING episodes only:
//   - a shadow price of energy: the solver (DPP exact+switch, load forecast) decides as if the
//     energy queue were Z_e + theta. This is the learning-aided Lyapunov idea (Huang, Liu & Neely,
//     "The power of online learning in stochastic network optimization", 2014): start the queue at
//     the constraint's multiplier instead of letting it build up to it.
//   - an anchor: keep API cloud-only unless the solver's score (J plus the switch's price) beats
//     API cloud-only's by a share m, to guard against the optimizer's curse on noisy estimates.
// Each is run over a grid of its one parameter, and the best grid point per block is picked on the
// same episodes it is scored on. That is optimistic for the fitted policy, so where even the
// in-sample best does not beat API cloud-only, no fitted value of the parameter will out of sample.
// Paired bootstrap 95 % intervals over episodes; writes docs/<name>.{md,json}.
//
//   nice npx tsx scripts/policy-anchors.ts [--episodes 12] [--name policy-anchors]
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PRESETS } from '@splitwise/core';
import { allWeightsResident, switchCost, DEFAULT_CONTENTION, DEFAULT_SWITCHING } from '../packages/policy/src/dynamics.ts';
import { CHANNEL_SPECS, MarkovChannel } from '../packages/policy/src/env/channel.ts';
import { DEFAULT_WORKLOAD, type EnvConfig } from '../packages/policy/src/env/simulator.ts';
import { bootstrapDiff, runEpisodes, summarize, type EpisodeLog } from '../packages/policy/src/evaluate.ts';
import { objectiveCoefficients } from '../packages/policy/src/objective.ts';
import { AdaptiveLayerSplitPlanner, apiCandidate, ApiCloudOnlyPlanner, CloudOnlyPlanner, EdgeOnlyPlanner, LoadForecastPlanner, queueStateOf, SwitchAwarePlanner, withLoadForecast, type Planner } from '../packages/policy/src/planners.ts';
import { modelFootprint } from '../packages/policy/src/policy-runner.ts';
import { FixedPricePlanner, pricedDecision } from '../packages/policy/src/price-policy.ts';
import { costModelFor, envConfig, memoryRange, OBJECTIVE, TRAIN_SEED_BASE } from '../packages/policy/src/scenario.ts';
import { loadAccuracy, loadProfile } from '../packages/policy/src/node/files.ts';

const { values: args } = parseArgs({ options: { episodes: { type: 'string', default: '12' }, name: { type: 'string', default: 'policy-anchors' }, out: { type: 'string', default: 'docs' } } });
const t0 = performance.now();
const edge = loadProfile('rpi5-8gb'), cloud = loadProfile('node-epyc-2vcpu');
const model = costModelFor({ edge, cloud, accuracy: loadAccuracy(), config: PRESETS['gpt2-xl'] });
const memory = memoryRange(model, edge, modelFootprint(model.graph));
const seeds = Array.from({ length: Number(args.episodes) }, (_, i) => TRAIN_SEED_BASE + 700_000 + i);
const dynamics = { switching: DEFAULT_SWITCHING, contention: DEFAULT_CONTENTION };
const THETAS = [3, 10, 30], MARGINS = [0.05, 0.15, 0.3];

/** The solver deciding as if the energy queue were Z_e + theta. */
const shadowPrice = (inner: Planner, theta: number): Planner => ({ name: `shadow price theta=${theta}`, decide: (s, ctx) => inner.decide({ ...s, Ze: s.Ze + theta }, ctx) });

/** API cloud-only unless the (forecast-priced) solver's score beats its score by a share m. */
const anchored = (m: number): Planner => ({
  name: `API anchor m=${m}`,
  decide: (s0, ctx) => {
    const s = withLoadForecast(s0, ctx.model, DEFAULT_CONTENTION);
    const d = pricedDecision(s, ctx, 1, DEFAULT_SWITCHING);
    const api = apiCandidate(s, ctx);
    if (!api || d.source === 'api') return d;
    let swJ = 0;
    if (s.current) {
      const { cL, cE } = objectiveCoefficients(ctx.objective, queueStateOf(s), s.request.gen);
      const resident = allWeightsResident(ctx.model, s.memoryFreeBytes, s.request.prompt + s.request.gen);
      const sw = switchCost(ctx.model, s.current.counts, { counts: api.plan, precision: api.precision }, DEFAULT_SWITCHING, s.net, ctx.energy, 0, resident, s.cloud?.slowdown ?? 1);
      swJ = (cL * sw.ms) / 1000 + cE * sw.energyJ;
    }
    return d.score < (1 - m) * (api.J + swJ) ? d : { plan: api.plan, precision: api.precision };
  },
});

const sg = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
const mean = (xs: number[]): number => xs.reduce((a, v) => a + v, 0) / xs.length;
const epReward = (l: EpisodeLog[]) => l.map((e) => mean(e.rewards));
function costSplit(logs: EpisodeLog[], V: number): CostSplit {
  const per = logs.map((e) => {
    const total = -e.rewards.reduce((a, v) => a + v, 0), end = e.infos.at(-1)!;
    const penalty = V * e.infos.reduce((a, i) => a + i.penalty, 0), virtualQueues = 0.5 * (end.Ze * end.Ze + end.Za * end.Za);
    return { penalty: penalty / total, virtualQueues: virtualQueues / total, requestQueue: (total - penalty - virtualQueues) / total };
  });
  return { penalty: mean(per.map((p) => p.penalty)), virtualQueues: mean(per.map((p) => p.virtualQueues)), requestQueue: mean(per.map((p) => p.requestQueue)) };
}
/** Where an episode's cost (-sum of rewards) goes: V times the penalties, the virtual queues' end value 1/2 (Z_e^2 + Z_a^2), and the rest, the request queue's 1/2 (Q_end^2 - Q_0^2) (drifts telescope). */
interface CostSplit { penalty: number; virtualQueues: number; requestQueue: number }
interface Row { label: string; reward: number; split: CostSplit; waitShare: number; vsSolver: { value: number; lo: number; hi: number }; vsApi: { value: number; lo: number; hi: number; wins: number }; latencyS: number; energyPerTokenJ: number }
interface Block { family: string; load: string; budgetJ: number; rows: Row[]; bestFitted: string }
const blocks: Block[] = [];
for (const kind of ['wifi', 'lte'] as const) {
  const base = envConfig(model, edge, (r) => new MarkovChannel(CHANNEL_SPECS[kind], r), 48, memory);
  const refS = summarize(await runEpisodes({ ...base, workload: { ...DEFAULT_WORKLOAD, loadMin: 0.02, loadMax: 0.02 }, episodeLength: 24, dynamics }, new AdaptiveLayerSplitPlanner(), seeds.map((s) => s + 50_000))).meanServiceS;
  for (const [load, range] of [['light', [0.1, 0.3]], ['heavy', [0.45, 0.65]]] as const) {
    const cfgAt = (budgetJ: number): EnvConfig => ({ ...base, objective: { ...OBJECTIVE, energyBudgetJ: budgetJ }, nominalServiceS: refS, workload: { ...DEFAULT_WORKLOAD, loadMin: range[0], loadMax: range[1] }, dynamics });
    // as policy-contention: the objective's budget, and the least whole J/token the least-energy baseline meets
    const least = Math.min(...(await Promise.all([new ApiCloudOnlyPlanner(), new CloudOnlyPlanner(), new EdgeOnlyPlanner()].map(async (p) => summarize(await runEpisodes(cfgAt(OBJECTIVE.energyBudgetJ), p, seeds)).energyPerTokenJ))));
    for (const budgetJ of [OBJECTIVE.energyBudgetJ, Math.max(OBJECTIVE.energyBudgetJ, Math.ceil(least))]) {
      const cfg = cfgAt(budgetJ), solver = new FixedPricePlanner(1, DEFAULT_SWITCHING), forecast = new LoadForecastPlanner(solver, DEFAULT_CONTENTION);
      const planners: Array<[string, Planner]> = [
        ['DPP exact+switch', solver],
        ['DPP exact+switch, forecast', forecast],
        ['DPP+switch H=1', new SwitchAwarePlanner(DEFAULT_SWITCHING, 1)],
        ['API cloud-only', new ApiCloudOnlyPlanner()],
        ...THETAS.map((th): [string, Planner] => [`forecast, shadow price theta=${th}`, shadowPrice(forecast, th)]),
        ...MARGINS.map((m): [string, Planner] => [`forecast, API anchor m=${m}`, anchored(m)]),
      ];
      const rewards = new Map<string, number[]>(), stats = new Map<string, Pick<Row, 'reward' | 'latencyS' | 'energyPerTokenJ' | 'split' | 'waitShare'>>();
      for (const [label, p] of planners) {
        const logs = await runEpisodes(cfg, p, seeds), s = summarize(logs);
        rewards.set(label, epReward(logs));
        stats.set(label, { reward: s.meanReward, latencyS: s.meanLatencyS, energyPerTokenJ: s.energyPerTokenJ, split: costSplit(logs, cfg.objective.V), waitShare: s.meanWaitS / s.meanLatencyS });
      }
      const ref = rewards.get('DPP exact+switch')!, api = rewards.get('API cloud-only')!;
      const rows: Row[] = planners.map(([label]) => {
        const rw = rewards.get(label)!;
        return { label, ...stats.get(label)!, vsSolver: { value: mean(rw) - mean(ref), ...bootstrapDiff(rw, ref, 11) }, vsApi: { value: mean(rw) - mean(api), ...bootstrapDiff(rw, api, 12), wins: rw.filter((v, j) => v > api[j]!).length } };
      });
      for (const r of rows) console.log(`${kind}+contention ${load.padEnd(5)} ${budgetJ} J  ${r.label.padEnd(34)} reward ${r.reward.toFixed(2).padStart(8)}  vs solver ${sg(r.vsSolver.value)} [${sg(r.vsSolver.lo)}, ${sg(r.vsSolver.hi)}]  vs API ${sg(r.vsApi.value)} [${sg(r.vsApi.lo)}, ${sg(r.vsApi.hi)}]`);
      const fitted = rows.filter((r) => r.label.includes('shadow') || r.label.includes('anchor')).sort((a, b) => b.reward - a.reward)[0]!;
      blocks.push({ family: `${kind}+contention`, load, budgetJ, rows, bestFitted: fitted.label });
    }
  }
}

const command = `npx tsx scripts/policy-anchors.ts ${process.argv.slice(2).join(' ')}`.trim();
writeFileSync(`${args.out}/${args.name}.json`, JSON.stringify({ command, seconds: (performance.now() - t0) / 1000, seeds, blocks }, null, 1));
const f2 = (x: number) => x.toFixed(2), pc = (x: number) => `${Math.abs(100 * x) < 0.5 ? 0 : (100 * x).toFixed(0)} %`;
const md: string[] = [
  '# Contention: a shadow price of energy, and an anchor on API cloud-only, fitted in-sample',
  '',
  `Generated by \`${command}\` in ${((performance.now() - t0) / 1000).toFixed(0)} s. The setting of docs/policy-contention.md (gpt2-xl on the Pi 5, switching costs on, the cloud's load an OU process), but on ${seeds.length} TRAINING episodes (seeds ${seeds[0]}..${seeds.at(-1)}), and every grid point is scored on the episodes it would be picked on. The best grid point per block is therefore an optimistic estimate of a fitted policy; a fitted policy that does not beat a baseline here cannot be expected to beat it on test episodes.`,
  '',
  '"shadow price theta": the forecast-priced solver deciding as if the energy queue were Z_e + theta (learning-aided Lyapunov optimization). "API anchor m": API cloud-only unless the forecast-priced solver\'s score beats API cloud-only\'s by the share m. Columns: mean reward per request (higher = lower episode cost), its difference from DPP exact+switch and from API cloud-only (paired bootstrap 95 % intervals, episodes won against API cloud-only), mean latency and the share of it spent waiting in the edge\'s queue, edge energy per token, and where the episode\'s cost goes. The reward is -(drift + V penalty) and drifts telescope, so an episode\'s cost is V times its penalties (service seconds per token and the budget shares, summed) plus the Lyapunov function at its end less at its start: the virtual queues left, 1/2 (Z_e^2 + Z_a^2), and the request queue\'s 1/2 (Q_end^2 - Q_0^2). Waiting time is not in the penalty; it counts only through that last term.',
  '',
];
for (const b of blocks) {
  md.push(`## ${b.family}, ${b.load} load, ${b.budgetJ} J/token`, '', `Best fitted grid point: ${b.bestFitted}.`, '', '| planner | reward | − DPP exact+switch | − API cloud-only | latency s (waiting share) | J/token | cost: V·penalties / virtual queues at the end / request queue |', '|---|---:|---|---|---:|---:|---|');
  for (const r of b.rows) md.push(`| ${r.label} | ${f2(r.reward)} | ${sg(r.vsSolver.value)} [${sg(r.vsSolver.lo)}, ${sg(r.vsSolver.hi)}] | ${r.label === 'API cloud-only' ? '—' : `${sg(r.vsApi.value)} [${sg(r.vsApi.lo)}, ${sg(r.vsApi.hi)}] ${r.vsApi.wins}/${seeds.length}`} | ${r.latencyS.toFixed(1)} (${pc(r.waitShare)}) | ${f2(r.energyPerTokenJ)} | ${pc(r.split.penalty)} / ${pc(r.split.virtualQueues)} / ${pc(r.split.requestQueue)} |`);
  md.push('');
}
writeFileSync(`${args.out}/${args.name}.md`, md.join('\n'));
console.log(`wrote ${args.out}/${args.name}.md and .json; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
