// Issue 10: under a contended cloud, what does an episode's cost consist of, and how much could
// knowing the cloud's future load buy? On the two contention families (Markov Wi-Fi and LTE, the
// cloud's load an OU process, switching costs on), for the objective's energy budget and for the
// least whole-joule budget that the least-energy baseline meets on the family's training episodes:
//   - the per-decision planners (DPP layer, DPP exact, DPP+switch H=1, DPP exact+switch), the last
//     two also with the load forecast (dynamics.ts expectedSlowdown: the server publishes its load
//     process's statistics), API cloud-only and edge-only;
//   - a clairvoyant-load planner: DPP exact+switch's layer and API candidates and the plan in place,
//     the switch priced in full, each priced with the cloud load the request will actually meet
//     (read ahead from the episode's own load process). No policy that decides per request from what
//     the edge can see prices the cloud better, so its gap bounds what a learned load forecast adds.
// Paired bootstrap 95 % intervals over test episodes; writes docs/<name>.{md,json}.
//
//   nice npx tsx scripts/policy-contention.ts [--episodes 12] [--train-episodes 12] [--budgets 3,auto] [--name policy-contention]
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PRESETS, WIRE_PRECISIONS } from '@splitwise/core';
import { apiCloudOnlyCounts, expectedTailJ, requestCost, type PlanCounts } from '../packages/policy/src/cost-model.ts';
import { allWeightsResident, switchCost, DEFAULT_CONTENTION, DEFAULT_SWITCHING, type CloudLoadProcess } from '../packages/policy/src/dynamics.ts';
import { CHANNEL_SPECS, MarkovChannel } from '../packages/policy/src/env/channel.ts';
import { DEFAULT_WORKLOAD, SplitwiseEnv, type EnvConfig } from '../packages/policy/src/env/simulator.ts';
import { bootstrap, bootstrapDiff, runEpisodes, summarize, type EpisodeLog } from '../packages/policy/src/evaluate.ts';
import { objectiveCoefficients } from '../packages/policy/src/objective.ts';
import {
  AdaptiveLayerSplitPlanner,
  ApiCloudOnlyPlanner,
  CloudOnlyPlanner,
  EdgeOnlyPlanner,
  layerSplitCounts,
  LoadForecastPlanner,
  OptimumPlanner,
  queueStateOf,
  SwitchAwarePlanner,
  type Decision,
  type Planner,
} from '../packages/policy/src/planners.ts';
import { modelFootprint } from '../packages/policy/src/policy-runner.ts';
import { FixedPricePlanner } from '../packages/policy/src/price-policy.ts';
import { costModelFor, envConfig, memoryRange, EVAL_SEED_BASE, OBJECTIVE, TRAIN_SEED_BASE } from '../packages/policy/src/scenario.ts';
import { loadAccuracy, loadProfile } from '../packages/policy/src/node/files.ts';

const { values: args } = parseArgs({
  options: {
    episodes: { type: 'string', default: '12' },
    'train-episodes': { type: 'string', default: '12' },
    budgets: { type: 'string', default: '3,auto' },
    name: { type: 'string', default: 'policy-contention' },
    out: { type: 'string', default: 'docs' },
  },
});
const t0 = performance.now();
const edge = loadProfile('rpi5-8gb'), cloud = loadProfile('node-epyc-2vcpu');
const model = costModelFor({ edge, cloud, accuracy: loadAccuracy(), config: PRESETS['gpt2-xl'] });
const memory = memoryRange(model, edge, modelFootprint(model.graph));
const L = model.graph.config.nLayer;
const testSeeds = Array.from({ length: Number(args.episodes) }, (_, i) => EVAL_SEED_BASE + i);
const trainSeeds = (salt: number) => Array.from({ length: Number(args['train-episodes']) }, (_, i) => TRAIN_SEED_BASE + 300_000 + salt * 1000 + i);
const LOADS = { light: [0.1, 0.3], heavy: [0.45, 0.65] } as const;
const dynamics = { switching: DEFAULT_SWITCHING, contention: DEFAULT_CONTENTION };

/** The clairvoyant-load planner for one episode of `env` (it reads the env's clock and load process). */
function clairvoyantLoad(env: SplitwiseEnv): Planner {
  const inner = env as unknown as { t: number; load: CloudLoadProcess };
  return {
    name: 'clairvoyant load',
    decide: (s, ctx): Decision => {
      const t = inner.t, load = inner.load;
      const q = queueStateOf(s), { cL, cE, cA } = objectiveCoefficients(ctx.objective, q, s.request.gen);
      const rows = s.request.prompt + s.request.gen, resident = allWeightsResident(model, s.memoryFreeBytes, rows);
      let best: Decision | undefined, bestJ = Infinity;
      const consider = (plan: PlanCounts, p: (typeof WIRE_PRECISIONS)[number]): void => {
        const sw = switchCost(model, s.current?.counts, { counts: plan, precision: p }, DEFAULT_SWITCHING, s.net, ctx.energy, 0, resident, load.slowdown(t));
        const c = model.compile(plan, p), cost = requestCost(model, c, s.request, s.net, ctx.energy, (ms) => load.slowdown(t + sw.ms + ms));
        const tail = c.usesCloud ? expectedTailJ(ctx.energy.radio, q.Q > 1, q.lambdaPerS) : 0;
        const J = cL * ((cost.latencyMs + sw.ms) / 1000) + cE * (cost.energyJ + sw.energyJ + tail) + cA * cost.accuracyLoss;
        if (J < bestJ) [best, bestJ] = [{ plan, precision: p }, J];
      };
      for (let k = 0; k <= L; k++) {
        const plan = layerSplitCounts(model, k);
        if (k > 0 && model.edgeMemoryBytes(plan, rows) > s.memoryFreeBytes) continue;
        for (const p of k === L ? (['fp32'] as const) : WIRE_PRECISIONS) consider(plan, p);
      }
      if (s.current) consider(s.current.counts, s.current.precision);
      consider(apiCloudOnlyCounts(model.graph), 'fp32');
      return best!;
    },
  };
}

/** Episodes of the clairvoyant (it needs the env it decides in, so they are run here rather than by runEpisodes). */
function runClairvoyant(cfg: EnvConfig, seeds: number[]): EpisodeLog[] {
  const env = new SplitwiseEnv(cfg), logs: EpisodeLog[] = [];
  for (const seed of seeds) {
    let s = env.reset(seed);
    const p = clairvoyantLoad(env), log: EpisodeLog = { seed, infos: [], rewards: [], decisionMs: [] };
    for (;;) {
      const d = p.decide(s, { model, energy: env.energyModel(), objective: cfg.objective }) as Decision;
      const r = env.step(d.plan, d.precision);
      log.infos.push(r.info);
      log.rewards.push(r.reward);
      log.decisionMs.push(0);
      s = r.state;
      if (r.done) break;
    }
    logs.push(log);
  }
  return logs;
}

const mean = (xs: number[]): number => xs.reduce((a, v) => a + v, 0) / xs.length;
const epLatency = (l: EpisodeLog[]) => l.map((e) => mean(e.infos.map((i) => i.latencyS)));
const epReward = (l: EpisodeLog[]) => l.map((e) => mean(e.rewards));
/** The reward with the penalty counting each request's whole latency (its wait in the edge's queue too), not its service alone. */
const epRewardCountingWait = (l: EpisodeLog[], V: number) => l.map((e) => mean(e.rewards.map((r, k) => r - (V * e.infos[k]!.waitS) / e.infos[k]!.request.gen)));
/** Share of an episode's cost (-sum of rewards) that is the virtual queues left at its end, 1/2 (Z_e^2 + Z_a^2). */
const terminalShare = (l: EpisodeLog[]) => mean(l.map((e) => { const i = e.infos.at(-1)!; return (0.5 * (i.Ze * i.Ze + i.Za * i.Za)) / Math.max(1e-9, -e.rewards.reduce((a, v) => a + v, 0)); }));

interface Row {
  label: string;
  latencyS: number;
  latencyCI: { lo: number; hi: number };
  /** mean latency / DPP exact's, paired */
  vsExact: { value: number; lo: number; hi: number };
  reward: number;
  rewardCI: { lo: number; hi: number };
  /** reward minus DPP exact+switch's (above 0: lower episode cost), paired, and episodes won */
  vsSolver: { value: number; lo: number; hi: number; wins: number };
  /** the same with the reward counting waiting (epRewardCountingWait) */
  vsSolverCountingWait: { value: number; lo: number; hi: number; wins: number };
  energyPerTokenJ: number;
  terminalShare: number;
  cloudFraction: number;
}
interface Block {
  family: string;
  load: string;
  budgetJ: number;
  budgetRule: string;
  refServiceS: number;
  rows: Row[];
}
const blocks: Block[] = [];
const budgets = args.budgets.split(',');
let salt = 0;
for (const kind of ['wifi', 'lte'] as const) {
  const channel = (r: Parameters<EnvConfig['channel']>[0]) => new MarkovChannel(CHANNEL_SPECS[kind], r);
  const base = envConfig(model, edge, channel, 48, memory);
  const cfgAt = (refS: number, range: readonly [number, number], budgetJ: number): EnvConfig => ({ ...base, objective: { ...OBJECTIVE, energyBudgetJ: budgetJ }, nominalServiceS: refS, workload: { ...DEFAULT_WORKLOAD, loadMin: range[0], loadMax: range[1] }, dynamics });
  // S_ref as eval-policy sets it: the DPP layer rule's mean service at a trickle of load (24-request training episodes)
  const cal = summarize(await runEpisodes({ ...cfgAt(base.nominalServiceS, [0.02, 0.02], OBJECTIVE.energyBudgetJ), episodeLength: 24 }, new AdaptiveLayerSplitPlanner(), trainSeeds(salt++).map((s) => s + 50_000)));
  const refS = cal.meanServiceS;
  for (const [load, range] of Object.entries(LOADS)) {
    const train = trainSeeds(salt++);
    for (const b of budgets) {
      let budgetJ = Number(b), rule = `the objective's (${OBJECTIVE.energyBudgetJ} J/token)`;
      if (b === 'auto') {
        // the least whole-joule budget that the least-energy baseline meets on the training episodes
        const cands = [new ApiCloudOnlyPlanner(), new CloudOnlyPlanner(), new EdgeOnlyPlanner()];
        const e = await Promise.all(cands.map(async (p) => ({ p: p.name, e: summarize(await runEpisodes(cfgAt(refS, range, OBJECTIVE.energyBudgetJ), p, train)).energyPerTokenJ })));
        e.sort((x, y) => x.e - y.e);
        budgetJ = Math.max(OBJECTIVE.energyBudgetJ, Math.ceil(e[0]!.e));
        rule = `the least whole J/token that the least-energy baseline (${e[0]!.p}, ${e[0]!.e.toFixed(2)} J/token on the training episodes) meets`;
      } else if (!(budgetJ > 0)) throw new Error(`--budgets: ${b} is neither a number of J/token nor auto`);
      const cfg = cfgAt(refS, range, budgetJ);
      const solver = new FixedPricePlanner(1, DEFAULT_SWITCHING);
      const planners: Array<[string, Planner]> = [
        ['DPP layer', new AdaptiveLayerSplitPlanner()],
        ['DPP exact', new OptimumPlanner()],
        ['DPP+switch H=1', new SwitchAwarePlanner(DEFAULT_SWITCHING, 1)],
        ['DPP exact+switch', solver],
        ['DPP+switch H=1, forecast', new SwitchAwarePlanner(DEFAULT_SWITCHING, 1, false, DEFAULT_CONTENTION)],
        ['DPP exact+switch, forecast', new LoadForecastPlanner(solver, DEFAULT_CONTENTION)],
        ['API cloud-only', new ApiCloudOnlyPlanner()],
        ['edge-only', new EdgeOnlyPlanner()],
      ];
      const logs = new Map<string, EpisodeLog[]>();
      for (const [label, p] of planners) logs.set(label, await runEpisodes(cfg, p, testSeeds));
      logs.set('clairvoyant load', runClairvoyant(cfg, testSeeds));
      const exact = epLatency(logs.get('DPP exact')!), solverRw = epReward(logs.get('DPP exact+switch')!), solverRwW = epRewardCountingWait(logs.get('DPP exact+switch')!, cfg.objective.V);
      const rows: Row[] = [...logs].map(([label, l], i) => {
        const s = summarize(l), lat = epLatency(l), rw = epReward(l), rwW = epRewardCountingWait(l, cfg.objective.V);
        return {
          label,
          latencyS: s.meanLatencyS,
          latencyCI: bootstrap(lat, undefined, 7 + i),
          vsExact: { value: mean(lat) / mean(exact), ...bootstrap(lat, exact, 100 + i) },
          reward: s.meanReward,
          rewardCI: bootstrap(rw, undefined, 200 + i),
          vsSolver: { value: mean(rw) - mean(solverRw), ...bootstrapDiff(rw, solverRw, 300 + i), wins: rw.filter((v, j) => v > solverRw[j]!).length },
          vsSolverCountingWait: { value: mean(rwW) - mean(solverRwW), ...bootstrapDiff(rwW, solverRwW, 400 + i), wins: rwW.filter((v, j) => v > solverRwW[j]!).length },
          energyPerTokenJ: s.energyPerTokenJ,
          terminalShare: terminalShare(l),
          cloudFraction: s.meanCloudFraction,
        };
      });
      blocks.push({ family: `${kind}+contention`, load, budgetJ, budgetRule: rule, refServiceS: refS, rows });
      for (const r of rows)
        console.log(`${kind}+contention ${load.padEnd(5)} ${String(budgetJ).padStart(2)} J  ${r.label.padEnd(28)} latency ${r.latencyS.toFixed(1).padStart(6)} s (x${r.vsExact.value.toFixed(3)} DPP exact)  reward ${r.reward.toFixed(2).padStart(8)} (${r.vsSolver.value >= 0 ? '+' : ''}${r.vsSolver.value.toFixed(2)} [${r.vsSolver.lo.toFixed(2)}, ${r.vsSolver.hi.toFixed(2)}] vs solver)  ${r.energyPerTokenJ.toFixed(2)} J/tok  terminal ${(100 * r.terminalShare).toFixed(0)} %`);
    }
  }
}

const command = `npx tsx scripts/policy-contention.ts ${process.argv.slice(2).join(' ')}`.trim();
const f1 = (x: number) => x.toFixed(1), f2 = (x: number) => x.toFixed(2), sg = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
const md: string[] = [
  `# Contention: what an episode costs, and what knowing the cloud's load would buy`,
  '',
  `Generated by \`${command}\` in ${((performance.now() - t0) / 1000).toFixed(0)} s. gpt2-xl on the Raspberry Pi 5 profile, the node-epyc cloud, switching costs on, the cloud's load an OU process (dynamics.ts defaults), Markov Wi-Fi and LTE channels; ${testSeeds.length} test episodes x 48 requests per family, load and budget (seeds ${testSeeds[0]}..${testSeeds.at(-1)}, as eval:policy's), S_ref from the DPP layer rule at a trickle of load on training seeds. Objective as scenario.ts (V=${OBJECTIVE.V}, w_e=${OBJECTIVE.wEnergy}, w_a=${OBJECTIVE.wAccuracy}, accuracy budget ${OBJECTIVE.accuracyBudget}), the energy budget as each block says. "forecast": the planner prices the cloud at the load expected over the request (the load process's published statistics). "clairvoyant load": layer cuts x precisions, API cloud-only and the plan in place, the switch priced in full, each priced with the load the request will actually meet.`,
  '',
  'Columns: mean latency and its 95 % interval; latency over DPP exact\'s (paired interval); mean reward per request (the drift-plus-penalty objective; higher = lower episode cost); reward minus DPP exact+switch\'s (paired interval, episodes won of ' + testSeeds.length + '); edge energy per token; the share of the episode\'s cost that is the virtual queues left at its end, 1/2 (Z_e^2 + Z_a^2); the share of units on the cloud; and the reward difference again with the penalty counting each request\'s whole latency, its wait in the edge\'s queue included (r - V wait/g: the objective\'s penalty counts service time, so waiting otherwise enters an episode\'s cost only through the request queue left at its end). The planners decide on the objective as it is; the last column only scores them differently.',
  '',
];
for (const b of blocks) {
  md.push(`## ${b.family}, ${b.load} load, energy budget ${b.budgetJ} J/token`, '', `Budget: ${b.budgetRule}. S_ref ${f1(b.refServiceS)} s.`, '');
  md.push('| planner | latency s [95 % CI] | vs DPP exact | reward [95 % CI] | reward − DPP exact+switch | J/token | end-of-episode queues, share of cost | cloud share of units | reward counting waiting − DPP exact+switch\'s |', '|---|---:|---|---:|---|---:|---:|---:|---|');
  for (const r of b.rows)
    md.push(`| ${r.label} | ${f1(r.latencyS)} [${f1(r.latencyCI.lo)}, ${f1(r.latencyCI.hi)}] | ${r.vsExact.value.toFixed(3)} [${r.vsExact.lo.toFixed(3)}, ${r.vsExact.hi.toFixed(3)}] | ${f2(r.reward)} [${f2(r.rewardCI.lo)}, ${f2(r.rewardCI.hi)}] | ${r.label === 'DPP exact+switch' ? '—' : `${sg(r.vsSolver.value)} [${sg(r.vsSolver.lo)}, ${sg(r.vsSolver.hi)}] ${r.vsSolver.wins}/${testSeeds.length}`} | ${f2(r.energyPerTokenJ)} | ${(100 * r.terminalShare).toFixed(0)} % | ${f2(r.cloudFraction)} | ${r.label === 'DPP exact+switch' ? '—' : `${sg(r.vsSolverCountingWait.value)} [${sg(r.vsSolverCountingWait.lo)}, ${sg(r.vsSolverCountingWait.hi)}] ${r.vsSolverCountingWait.wins}/${testSeeds.length}`} |`);
  md.push('');
}
writeFileSync(`${args.out}/${args.name}.md`, md.join('\n'));
writeFileSync(`${args.out}/${args.name}.json`, JSON.stringify({ command, seconds: (performance.now() - t0) / 1000, testSeeds, blocks }, null, 1));
console.log(`wrote ${args.out}/${args.name}.md and .json; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
