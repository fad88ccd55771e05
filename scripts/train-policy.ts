// npm run train:policy — train the hierarchical Splitwise policy with PPO on the simulator
// (gpt2-xl shape, Raspberry Pi 5 edge, this machine as the cloud), seeded and reproducible.
// Writes into packages/policy/trained/: policy-weights.json, policy.onnx, training-log.json,
// training-curve.svg (also copied to docs/), and the 1,000-state parity fixture used by the tests.
// Another model shape or edge device trains a policy of its own (the chat page loads the one
// trained for its model: see apps/web/src/policy-mode.ts), e.g. `npm run train:policy:page`:
//
//   npx tsx scripts/train-policy.ts [--updates 400] [--seed 2026] [--bc-episodes 48] [--validate-every 20]
//                                   [--model gpt2-xl] [--edge rpi5-8gb] [--out DIR] [--fixture FILE] [--curve FILE]
import { mkdir, writeFile, copyFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { decodeAction } from '../packages/policy/src/action.ts';
import { runEpisodes, summarize } from '../packages/policy/src/evaluate.ts';
import { SplitwiseEnv } from '../packages/policy/src/env/simulator.ts';
import { buildPolicyOnnx } from '../packages/policy/src/export-onnx.ts';
import { weightsToJson, type PolicyWeights } from '../packages/policy/src/network.ts';
import { AdaptiveLayerSplitPlanner, CloudOnlyPlanner, OptimumPlanner, PolicyPlanner, type Planner } from '../packages/policy/src/planners.ts';
import { costModelFor, envConfig, memoryRange, trainingChannel, VALIDATION_SEED_BASE, OBJECTIVE } from '../packages/policy/src/scenario.ts';
import { modelFootprint } from '../packages/policy/src/policy-runner.ts';
import { PRESETS } from '@splitwise/core';
import { loadAccuracy, loadProfile } from '../packages/policy/src/node/files.ts';
import { lineChart } from '../packages/policy/src/svg-plot.ts';
import { DEFAULT_PPO, PpoTrainer, type UpdateLog } from '../packages/policy/src/train/ppo.ts';

const { values: args } = parseArgs({
  options: {
    updates: { type: 'string', default: String(400) },
    seed: { type: 'string', default: String(DEFAULT_PPO.seed) },
    'validate-every': { type: 'string', default: '20' },
    'validation-episodes': { type: 'string', default: '16' },
    /** Model shape (a core preset) and edge device profile (packages/policy/profiles/NAME.json). */
    model: { type: 'string', default: 'gpt2-xl' },
    edge: { type: 'string', default: 'rpi5-8gb' },
    out: { type: 'string', default: 'packages/policy/trained' },
    fixture: { type: 'string', default: 'packages/policy/src/__fixtures__/policy-states.json' },
    /** Where the training curve is copied for the docs. */
    curve: { type: 'string', default: 'docs/policy-training-curve.svg' },
    'skip-optimum-reference': { type: 'boolean', default: false },
    /** Behaviour-cloning warm start from the adaptive layer split (0 = none). */
    'bc-episodes': { type: 'string', default: '48' },
    'bc-epochs': { type: 'string', default: '30' },
  },
});
const UPDATES = Number(args.updates), SEED = Number(args.seed), VAL_EVERY = Number(args['validate-every']);
const EPISODE = 48;
const t0 = performance.now();
if (!(args.model in PRESETS)) throw new Error(`--model must be one of ${Object.keys(PRESETS).join(', ')}`);
const edge = loadProfile(args.edge), cloud = loadProfile('node-epyc-2vcpu'), accuracy = loadAccuracy();
const model = costModelFor({ edge, cloud, accuracy, config: PRESETS[args.model as keyof typeof PRESETS] });
const cfg = envConfig(model, edge, trainingChannel, EPISODE, memoryRange(model, edge, modelFootprint(model.graph)));
const scenarioArgs = args.model === 'gpt2-xl' && args.edge === 'rpi5-8gb' ? '' : ` --model ${args.model} --edge ${args.edge}`;
const trainer = await PpoTrainer.create(cfg, { seed: SEED, updates: UPDATES });
const valSeeds = Array.from({ length: Number(args['validation-episodes']) }, (_, i) => VALIDATION_SEED_BASE + i);
const greedy = new PolicyPlanner('policy', (s) => trainer.outputs(s));

console.log(`scenario: ${args.model} shape, edge ${edge.name}, cloud ${cloud.name}; free edge memory ${(cfg.memoryMinBytes / 2 ** 30).toFixed(2)}-${(cfg.memoryMaxBytes / 2 ** 30).toFixed(2)} GiB`);
console.log(`training: ${UPDATES} updates x ${DEFAULT_PPO.envs} envs x ${EPISODE} decisions, seed ${SEED}, ${os.cpus().length} CPUs`);
const refs: Record<string, number> = {};
const refPlanners: Planner[] = [new CloudOnlyPlanner(), new AdaptiveLayerSplitPlanner(), ...(args['skip-optimum-reference'] ? [] : [new OptimumPlanner()])];
for (const p of refPlanners) {
  const t = performance.now();
  refs[p.name] = summarize(await runEpisodes(cfg, p, valSeeds)).meanReward;
  console.log(`validation reference ${p.name}: mean reward ${refs[p.name]!.toFixed(3)} (${((performance.now() - t) / 1000).toFixed(0)} s)`);
}

let bc: { samples: number; loss: number; accuracy: number } | undefined;
if (Number(args['bc-episodes']) > 0) {
  const t = performance.now();
  bc = await trainer.behaviorClone(new AdaptiveLayerSplitPlanner(), Number(args['bc-episodes']), Number(args['bc-epochs']));
  console.log(`behaviour cloning of the adaptive layer split: ${bc.samples} decisions, final loss ${bc.loss.toFixed(3)}, greedy agreement ${(100 * bc.accuracy).toFixed(1)} % (${((performance.now() - t) / 1000).toFixed(0)} s)`);
}
const logs: UpdateLog[] = [];
const validation: Array<{ update: number; meanReward: number; meanLatencyS: number; p95LatencyS: number; energyPerTokenJ: number; meanAccuracyLoss: number }> = [];
let best: { reward: number; update: number; weights: PolicyWeights } | undefined;
const validate = async (u: number): Promise<void> => {
  const s = summarize(await runEpisodes(cfg, greedy, valSeeds));
  validation.push({ update: u, meanReward: s.meanReward, meanLatencyS: s.meanLatencyS, p95LatencyS: s.p95LatencyS, energyPerTokenJ: s.energyPerTokenJ, meanAccuracyLoss: s.meanAccuracyLoss });
  if (!best || s.meanReward > best.reward) best = { reward: s.meanReward, update: u, weights: trainer.policy.toWeights() };
  console.log(`  validation @${u}: reward ${s.meanReward.toFixed(3)}  latency ${s.meanLatencyS.toFixed(1)} s (p95 ${s.p95LatencyS.toFixed(1)})  ${s.energyPerTokenJ.toFixed(2)} J/token  KL ${s.meanAccuracyLoss.toExponential(2)}`);
};
await validate(0);
for (let u = 0; u < UPDATES; u++) {
  const l = trainer.update(u);
  logs.push(l);
  if (u % 5 === 0 || u === UPDATES - 1) {
    console.log(
      `update ${String(u).padStart(4)}  reward ${l.meanReward.toFixed(2).padStart(8)}  latency ${l.meanLatencyS.toFixed(1).padStart(6)} s  ` +
        `${l.energyPerTokenJ.toFixed(2)} J/tok  cloud ${l.meanCloudFraction.toFixed(2)}  Q ${l.meanQueue.toFixed(1)}  ` +
        `H ${l.entropy.toFixed(2)}  std ${l.meanStd.toFixed(3)}  vloss ${l.valueLoss.toFixed(3)}  ${l.seconds.toFixed(1)} s`,
    );
  }
  if ((u + 1) % VAL_EVERY === 0 || u === UPDATES - 1) await validate(u + 1);
}
const trainSeconds = (performance.now() - t0) / 1000;
const chosen = best!;
trainer.policy.setWeights(chosen.weights);
console.log(`best validation reward ${chosen.reward.toFixed(3)} at update ${chosen.update}; ${trainSeconds.toFixed(0)} s`);

// outputs
await mkdir(args.out, { recursive: true });
await writeFile(`${args.out}/policy-weights.json`, JSON.stringify({ ...weightsToJson(chosen.weights), update: chosen.update, seed: SEED }) + '\n');
const onnx = buildPolicyOnnx(chosen.weights);
await writeFile(`${args.out}/policy.onnx`, onnx);
const smooth = (xs: Array<[number, number]>, k = 10): Array<[number, number]> =>
  xs.map(([x], i) => [x, xs.slice(Math.max(0, i - k + 1), i + 1).reduce((a, p) => a + p[1], 0) / Math.min(k, i + 1)]);
const svg = lineChart({
  title: `PPO after a behaviour-cloning warm start (${args.model}, ${edge.name}, seed ${SEED}): mean reward per decision`,
  xLabel: 'environment steps (decisions)',
  yLabel: 'reward  -(drift + V penalty)',
  series: [
    { name: 'rollouts (10-update mean)', points: smooth(logs.map((l) => [l.steps, l.meanReward])) },
    { name: 'greedy, validation seeds', points: validation.map((v) => [v.update * DEFAULT_PPO.envs * EPISODE, v.meanReward]) },
    ...Object.entries(refs).map(([name, r], i) => ({
      name: `${name} (validation)`,
      dashed: true,
      color: ['#7f7f7f', '#2ca02c', '#9467bd'][i],
      points: [
        [0, r],
        [UPDATES * DEFAULT_PPO.envs * EPISODE, r],
      ] as Array<[number, number]>,
    })),
  ],
});
await writeFile(`${args.out}/training-curve.svg`, svg);
await mkdir(dirname(args.curve), { recursive: true });
await copyFile(`${args.out}/training-curve.svg`, args.curve);
await writeFile(
  `${args.out}/training-log.json`,
  JSON.stringify(
    {
      command: `npx tsx scripts/train-policy.ts --updates ${UPDATES} --seed ${SEED} --bc-episodes ${args['bc-episodes']}${scenarioArgs}`,
      model: args.model,
      edge: edge.name,
      cloud: cloud.name,
      memoryBytes: { min: cfg.memoryMinBytes, max: cfg.memoryMaxBytes },
      date: new Date().toISOString().slice(0, 10),
      machine: `${os.cpus().length} x ${os.cpus()[0]?.model}`,
      trainSeconds,
      ppo: trainer.cfg,
      objective: OBJECTIVE,
      episodeLength: EPISODE,
      bestUpdate: chosen.update,
      behaviourCloning: bc ? { teacher: 'adaptive layer split', episodes: Number(args['bc-episodes']), epochs: Number(args['bc-epochs']), ...bc } : null,
      validationReferences: refs,
      validation,
      updates: logs,
    },
    null,
    1,
  ) + '\n',
);

// the parity fixture: 1,000 states the training code decided on, with its greedy actions
const env = new SplitwiseEnv(cfg);
const states: unknown[] = [];
for (let ep = 0; states.length < 1000; ep++) {
  let s = env.reset(VALIDATION_SEED_BASE + 10_000 + ep);
  for (;;) {
    const x = trainer.features(s);
    const out = trainer.outputs(s);
    const a = decodeAction(model.graph, out, s.request, s.memoryFreeBytes);
    // how close the nearest pair of mean scores is: orders this close could flip between runtimes
    const nb = trainer.blocks, mu = out.scores.subarray(a.fracIndex * nb, (a.fracIndex + 1) * nb);
    const sorted = Array.from(mu).sort((p, q) => p - q);
    let gap = Infinity;
    for (let i = 1; i < sorted.length; i++) gap = Math.min(gap, sorted[i]! - sorted[i - 1]!);
    states.push({
      features: Array.from(x),
      request: s.request,
      memoryFreeBytes: s.memoryFreeBytes,
      action: { fracIndex: a.fracIndex, precIndex: a.precIndex, cloudHeads: Array.from(a.counts.cloudHeads), cloudWidth: Array.from(a.counts.cloudWidth) },
      minScoreGap: gap,
    });
    if (states.length >= 1000) break;
    const r = env.step(a.counts, a.precision);
    s = r.state;
    if (r.done) break;
  }
}
await mkdir(args.fixture.replace(/\/[^/]+$/, ''), { recursive: true });
await writeFile(args.fixture, JSON.stringify({ model: args.model, command: `npx tsx scripts/train-policy.ts --updates ${UPDATES} --seed ${SEED}${scenarioArgs}`, states }) + '\n');
console.log(`wrote ${args.out}/{policy-weights.json,policy.onnx,training-log.json,training-curve.svg}, ${args.curve}, ${args.fixture}; ${((performance.now() - t0) / 1000).toFixed(0)} s in all`);
