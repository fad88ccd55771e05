// Issue 10: train the version-3 learned policy (packages/policy/src/price-policy.ts): a selector of
// the price of a plan change, over the drift-plus-penalty solver. Seeded; plain JavaScript, no
// TensorFlow (the network is tiny and the gradient comes from evolution strategies).
//
//   nice npx tsx scripts/train-price-policy.ts [--iterations 24] [--population 8] [--episodes 6]
//        [--sigma 0.3] [--lr 0.05] [--hidden 16] [--seed 2026] [--model gpt2-xl --edge rpi5-8gb]
//        [--out packages/policy/trained/v3-price-gpt2xl-rpi5]
//        [--fixture packages/policy/src/__fixtures__/policy-states-v3-price.json]
//
// What it learns on: the simulator with switching costs always and a contended cloud in half the
// episodes, on the Markov channels only (Wi-Fi, LTE, 5G with outages, degraded LTE with outages;
// training seeds below 500,000). The real traces are never seen. The load regime is the
// evaluation's (eval-policy.ts): per channel kind, S_ref = the DPP layer rule's mean service at a
// trickle of load on calibration seeds, and the load drawn per episode in [0.1, 0.65].
//
// How: OpenAI-style evolution strategies (Salimans et al. 2017): each iteration draws `population`
// antithetic pairs of Gaussian perturbations of the weights, runs the greedy policy of each on the
// same fresh training episodes (common random numbers), ranks them by mean reward (the episode's
// -(drift + V penalty)), and steps Adam along the rank-weighted perturbations. The starting point is
// the mu = 1 rule (the output bias favours it, the output weights are zero). After every iteration
// the policy is scored on validation seeds (500,000+, never trained on), and the best one is kept:
// iteration 0 is the mu = 1 rule itself, so the kept policy is never worse on validation.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { PRESETS } from '@splitwise/core';
import { DEFAULT_CONTENTION, DEFAULT_SWITCHING, type DynamicsOptions } from '../packages/policy/src/dynamics.ts';
import { CHANNEL_SPECS, MarkovChannel, OUTAGES, scaledSpec, type Channel } from '../packages/policy/src/env/channel.ts';
import { DEFAULT_WORKLOAD, SplitwiseEnv, type EnvConfig } from '../packages/policy/src/env/simulator.ts';
import { runEpisodes, summarize } from '../packages/policy/src/evaluate.ts';
import { featureVectorV2, FEATURE_DIM_V2, type DecisionState } from '../packages/policy/src/features.ts';
import type { Dense } from '../packages/policy/src/network.ts';
import { AdaptiveLayerSplitPlanner, type Planner } from '../packages/policy/src/planners.ts';
import { modelFootprint } from '../packages/policy/src/policy-runner.ts';
import {
  argmax,
  buildPricePolicyOnnx,
  pricedDecision,
  priceForwardJs,
  priceWeightsToJson,
  PRICE_MULTIPLIERS,
  type PricePolicyWeights,
} from '../packages/policy/src/price-policy.ts';
import { Rng } from '../packages/policy/src/rng.ts';
import { costModelFor, envConfig, memoryRange, OBJECTIVE, TRAIN_SEED_BASE, VALIDATION_SEED_BASE } from '../packages/policy/src/scenario.ts';
import { loadAccuracy, loadProfile } from '../packages/policy/src/node/files.ts';

const { values: args } = parseArgs({
  options: {
    iterations: { type: 'string', default: '24' },
    population: { type: 'string', default: '8' },
    episodes: { type: 'string', default: '6' },
    'validation-episodes': { type: 'string', default: '16' },
    sigma: { type: 'string', default: '0.3' },
    lr: { type: 'string', default: '0.05' },
    hidden: { type: 'string', default: '16' },
    seed: { type: 'string', default: '2026' },
    'episode-length': { type: 'string', default: '48' },
    model: { type: 'string', default: 'gpt2-xl' },
    edge: { type: 'string', default: 'rpi5-8gb' },
    out: { type: 'string', default: 'packages/policy/trained/v3-price-gpt2xl-rpi5' },
    fixture: { type: 'string', default: 'packages/policy/src/__fixtures__/policy-states-v3-price.json' },
  },
});
const ITER = Number(args.iterations), POP = Number(args.population), EPISODES = Number(args.episodes), VAL = Number(args['validation-episodes']);
const SIGMA = Number(args.sigma), LR = Number(args.lr), HIDDEN = Number(args.hidden), SEED = Number(args.seed), LEN = Number(args['episode-length']);
const t0 = performance.now();
if (!(args.model in PRESETS)) throw new Error(`--model must be one of ${Object.keys(PRESETS).join(', ')}`);
const edge = loadProfile(args.edge), cloud = loadProfile('node-epyc-2vcpu');
const model = costModelFor({ edge, cloud, accuracy: loadAccuracy(), config: PRESETS[args.model as keyof typeof PRESETS] });
const footprint = modelFootprint(model.graph), memory = memoryRange(model, edge, footprint);

// ---- the training scenarios: channel kind x contention, in the evaluation's load regime ----
const KINDS: Array<{ name: string; channel: (rng: Rng) => Channel }> = [
  { name: 'wifi', channel: (rng) => new MarkovChannel(CHANNEL_SPECS.wifi, rng) },
  { name: 'lte', channel: (rng) => new MarkovChannel(CHANNEL_SPECS.lte, rng) },
  { name: '5g+outages', channel: (rng) => new MarkovChannel(CHANNEL_SPECS['5g'], rng, OUTAGES) },
  { name: 'lte-degraded', channel: (rng) => new MarkovChannel(scaledSpec(CHANNEL_SPECS.lte, 0.4, 1.6), rng, OUTAGES) },
];
const DYN: DynamicsOptions[] = [{ switching: DEFAULT_SWITCHING }, { switching: DEFAULT_SWITCHING, contention: DEFAULT_CONTENTION }];
const refService = new Map<string, number>();
for (const [i, k] of KINDS.entries()) {
  const cal: EnvConfig = { ...envConfig(model, edge, k.channel, 24, memory), workload: { ...DEFAULT_WORKLOAD, loadMin: 0.02, loadMax: 0.02 } };
  const seeds = Array.from({ length: 4 }, (_, j) => TRAIN_SEED_BASE + 400_000 + i * 100 + j);
  refService.set(k.name, summarize(await runEpisodes(cal, new AdaptiveLayerSplitPlanner(), seeds)).meanServiceS);
}
console.log(`S_ref per channel kind: ${[...refService].map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')}`);
/** Seed -> its scenario: the kind and contention cycle with the seed, so every batch mixes them. */
function cfgOf(seed: number): EnvConfig {
  const kind = KINDS[seed % KINDS.length]!, dyn = DYN[Math.floor(seed / KINDS.length) % 2]!;
  return { ...envConfig(model, edge, kind.channel, LEN, memory), nominalServiceS: refService.get(kind.name)!, workload: { ...DEFAULT_WORKLOAD, loadMin: 0.1, loadMax: 0.65 }, dynamics: dyn };
}

// ---- the network as one flat parameter vector ----
const nL1 = FEATURE_DIM_V2 * HIDDEN + HIDDEN, nOut = HIDDEN * PRICE_MULTIPLIERS.length + PRICE_MULTIPLIERS.length, NP = nL1 + nOut;
const unpack = (th: Float64Array): PricePolicyWeights => {
  const d = (off: number, i: number, o: number): Dense => ({ inDim: i, outDim: o, w: Float32Array.from(th.subarray(off, off + i * o)), b: Float32Array.from(th.subarray(off + i * o, off + i * o + o)) });
  return { featureDim: FEATURE_DIM_V2, hidden: HIDDEN, l1: d(0, FEATURE_DIM_V2, HIDDEN), out: d(nL1, HIDDEN, PRICE_MULTIPLIERS.length) };
};
const rng = new Rng(SEED);
const theta = new Float64Array(NP);
for (let i = 0; i < FEATURE_DIM_V2 * HIDDEN; i++) theta[i] = rng.normal() / Math.sqrt(FEATURE_DIM_V2);
// the mu = 1 rule to start from: the output's bias favours index 2 (mu = 1) by a margin
theta[nL1 + HIDDEN * PRICE_MULTIPLIERS.length + PRICE_MULTIPLIERS.indexOf(1)] = 0.3;

const plannerOf = (w: PricePolicyWeights, exact: boolean): Planner & { prices: number[] } => {
  const prices: number[] = [];
  return {
    name: 'v3 price policy',
    prices,
    decide: (s: DecisionState, ctx) => {
      const mu = PRICE_MULTIPLIERS[argmax(priceForwardJs(w, featureVectorV2(s, footprint)))]!;
      prices.push(mu);
      return pricedDecision(s, ctx, mu, DEFAULT_SWITCHING, exact);
    },
  };
};
/** Mean reward per request over these seeds (each seed its own scenario). */
async function score(w: PricePolicyWeights, seeds: readonly number[], exact = false): Promise<{ reward: number; latencyS: number; prices: number[] }> {
  let rw = 0, lat = 0, n = 0;
  const p = plannerOf(w, exact);
  for (const seed of seeds) {
    for (const l of await runEpisodes(cfgOf(seed), p, [seed])) {
      rw += l.rewards.reduce((a, v) => a + v, 0);
      lat += l.infos.reduce((a, i) => a + i.latencyS, 0);
      n += l.rewards.length;
    }
  }
  return { reward: rw / n, latencyS: lat / n, prices: p.prices };
}

const valSeeds = Array.from({ length: VAL }, (_, i) => VALIDATION_SEED_BASE + 11_000 + i);
const histogram = (xs: number[]): Record<string, number> => Object.fromEntries(PRICE_MULTIPLIERS.map((m) => [`x${m}`, xs.filter((x) => x === m).length / Math.max(1, xs.length)]));
// Adam over theta
const m1 = new Float64Array(NP), m2 = new Float64Array(NP);
const log: Array<Record<string, unknown>> = [];
let best = { theta: Float64Array.from(theta), val: await score(unpack(theta), valSeeds), iteration: 0 };
console.log(`iteration 0 (the mu = 1 rule): validation reward ${best.val.reward.toFixed(3)}, latency ${best.val.latencyS.toFixed(1)} s (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
log.push({ iteration: 0, valReward: best.val.reward, valLatencyS: best.val.latencyS, prices: histogram(best.val.prices), seconds: (performance.now() - t0) / 1000 });
let seed = TRAIN_SEED_BASE + 200_000;
for (let it = 1; it <= ITER; it++) {
  const seeds = Array.from({ length: EPISODES }, () => seed++);
  const eps: Float64Array[] = [], fit: number[] = [];
  for (let i = 0; i < POP; i++) {
    const e = Float64Array.from({ length: NP }, () => rng.normal());
    eps.push(e);
    for (const sign of [1, -1]) {
      const th = Float64Array.from(theta, (v, j) => v + sign * SIGMA * e[j]!);
      fit.push((await score(unpack(th), seeds)).reward);
    }
  }
  // centred ranks in [-0.5, 0.5]
  const order = fit.map((_, i) => i).sort((a, b) => fit[a]! - fit[b]!), rank = new Float64Array(fit.length);
  order.forEach((idx, r) => (rank[idx] = r / (fit.length - 1) - 0.5));
  const grad = new Float64Array(NP);
  for (let i = 0; i < POP; i++) {
    const w = rank[2 * i]! - rank[2 * i + 1]!;
    for (let j = 0; j < NP; j++) grad[j] = grad[j]! + (w * eps[i]![j]!) / (2 * POP * SIGMA);
  }
  for (let j = 0; j < NP; j++) {
    m1[j] = 0.9 * m1[j]! + 0.1 * grad[j]!;
    m2[j] = 0.999 * m2[j]! + 0.001 * grad[j]! ** 2;
    const mh = m1[j]! / (1 - 0.9 ** it), vh = m2[j]! / (1 - 0.999 ** it);
    theta[j] = theta[j]! + (LR * mh) / (Math.sqrt(vh) + 1e-8);
  }
  const val = await score(unpack(theta), valSeeds);
  const spread = { min: Math.min(...fit), max: Math.max(...fit) };
  log.push({ iteration: it, trainRewardMin: spread.min, trainRewardMax: spread.max, valReward: val.reward, valLatencyS: val.latencyS, prices: histogram(val.prices), seconds: (performance.now() - t0) / 1000 });
  console.log(`iteration ${it}: population reward ${spread.min.toFixed(3)}..${spread.max.toFixed(3)}, validation reward ${val.reward.toFixed(3)} latency ${val.latencyS.toFixed(1)} s, prices ${Object.entries(histogram(val.prices)).map(([k, v]) => `${k} ${(100 * v).toFixed(0)}%`).join(' ')} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  if (val.reward > best.val.reward) best = { theta: Float64Array.from(theta), val, iteration: it };
}

// ---- write ----
const w = unpack(best.theta);
await mkdir(args.out, { recursive: true });
await writeFile(`${args.out}/policy-weights.json`, JSON.stringify(priceWeightsToJson(w)) + '\n');
await writeFile(`${args.out}/policy.onnx`, buildPricePolicyOnnx(w));
// the parity fixture: 1,000 states the kept policy visits on validation-like seeds, with its logits
const states: Array<{ features: number[]; logits: number[]; price: number }> = [];
for (let sd = VALIDATION_SEED_BASE + 19_000; states.length < 1000; sd++) {
  const env = new SplitwiseEnv(cfgOf(sd)), p = plannerOf(w, false);
  let s = env.reset(sd);
  for (;;) {
    const f = featureVectorV2(s, footprint), l = priceForwardJs(w, f);
    states.push({ features: Array.from(f), logits: Array.from(l), price: PRICE_MULTIPLIERS[argmax(l)]! });
    const d = await p.decide(s, { model, energy: env.energyModel(), objective: OBJECTIVE });
    const r = env.step(d.plan, d.precision);
    s = r.state;
    if (r.done || states.length >= 1000) break;
  }
}
await writeFile(args.fixture, JSON.stringify({ model: args.model, featureDim: FEATURE_DIM_V2, prices: [...PRICE_MULTIPLIERS], states }) + '\n');
const seconds = (performance.now() - t0) / 1000;
await writeFile(
  `${args.out}/training-log.json`,
  JSON.stringify(
    {
      command: `npx tsx scripts/train-price-policy.ts ${process.argv.slice(2).join(' ')}`.trim(),
      date: new Date().toISOString(),
      machine: `${os.cpus().length} x ${os.cpus()[0]?.model}`,
      seconds,
      scenario: `${args.model} shape, ${edge.name} edge, ${cloud.name} cloud; Markov channels (Wi-Fi, LTE, 5G with outages, degraded LTE with outages), load 0.1-0.65 of S_ref per kind; switching costs always, a contended cloud in half the episodes`,
      refServiceS: Object.fromEntries(refService),
      es: { iterations: ITER, population: POP, episodesPerIteration: EPISODES, sigma: SIGMA, lr: LR, hidden: HIDDEN, seed: SEED, parameters: NP },
      kept: { iteration: best.iteration, valReward: best.val.reward, valLatencyS: best.val.latencyS, prices: histogram(best.val.prices) },
      muOneRule: log[0],
      iterations: log,
    },
    null,
    1,
  ) + '\n',
);
console.log(`kept iteration ${best.iteration}: validation reward ${best.val.reward.toFixed(3)} (the mu = 1 rule ${(log[0]!.valReward as number).toFixed(3)}); wrote ${args.out} and ${args.fixture} in ${seconds.toFixed(0)} s`);
