// Issue 10: train the version-2 learned policy (packages/policy/src/cut-policy.ts) by imitation of
// the switch-aware DPP planner with DAgger, on the simulator with switching costs and (in half the
// episodes) a contended cloud. Seeded; pure-JS TensorFlow.js on the CPU. Writes a NEW folder (the
// shipped version-1 policies are untouched):
//   <out>/policy-weights.json, <out>/policy.onnx, <out>/training-log.json, and the parity fixture.
//
//   nice npx tsx scripts/train-cut-policy.ts [--iterations 5] [--episodes 24] [--epochs 40] [--seed 2026]
//        [--horizon 4] [--out packages/policy/trained/v2-dagger-gpt2xl-rpi5]
//        [--fixture packages/policy/src/__fixtures__/policy-states-v2-dagger.json]
//
// DAgger (Ross et al., AISTATS 2011): iteration 0 rolls out the teacher; every later iteration rolls
// out the current student on fresh training seeds, labels every state it visits with the teacher's
// decision, adds them to the data set, and retrains on all of it. The student kept is the one with
// the best mean reward on validation seeds (the same dynamics), measured after each iteration.
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { PRESETS } from '@splitwise/core';
import {
  argmaxMasked,
  buildCutPolicyOnnx,
  classOf,
  cutClasses,
  cutForwardJs,
  cutMask,
  cutWeightsToJson,
  decodeCut,
  type CutPolicyWeights,
} from '../packages/policy/src/cut-policy.ts';
import { DEFAULT_CONTENTION, DEFAULT_SWITCHING, type DynamicsOptions } from '../packages/policy/src/dynamics.ts';
import { CHANNEL_SPECS, MarkovChannel, OUTAGES, scaledSpec } from '../packages/policy/src/env/channel.ts';
import { SplitwiseEnv, type EnvConfig } from '../packages/policy/src/env/simulator.ts';
import { featureVectorV2, FEATURE_DIM_V2, type DecisionState } from '../packages/policy/src/features.ts';
import type { Dense } from '../packages/policy/src/network.ts';
import { AdaptiveLayerSplitPlanner, SwitchAwarePlanner, type Planner } from '../packages/policy/src/planners.ts';
import { modelFootprint } from '../packages/policy/src/policy-runner.ts';
import { Rng } from '../packages/policy/src/rng.ts';
import { costModelFor, envConfig, memoryRange, trainingChannel, OBJECTIVE, TRAIN_SEED_BASE, VALIDATION_SEED_BASE } from '../packages/policy/src/scenario.ts';
import { initTf } from '../packages/policy/src/train/tf-policy.ts';
import { loadAccuracy, loadProfile } from '../packages/policy/src/node/files.ts';
import type { Channel } from '../packages/policy/src/env/channel.ts';

const { values: args } = parseArgs({
  options: {
    iterations: { type: 'string', default: '5' },
    episodes: { type: 'string', default: '24' },
    'validation-episodes': { type: 'string', default: '12' },
    epochs: { type: 'string', default: '40' },
    hidden: { type: 'string', default: '96' },
    seed: { type: 'string', default: '2026' },
    horizon: { type: 'string', default: '4' },
    out: { type: 'string', default: 'packages/policy/trained/v2-dagger-gpt2xl-rpi5' },
    fixture: { type: 'string', default: 'packages/policy/src/__fixtures__/policy-states-v2-dagger.json' },
  },
});
const ITER = Number(args.iterations), EPISODES = Number(args.episodes), EPOCHS = Number(args.epochs), HIDDEN = Number(args.hidden), SEED = Number(args.seed);
const LEN = 48;
const t0 = performance.now();
await initTf();
const edge = loadProfile('rpi5-8gb'), cloud = loadProfile('node-epyc-2vcpu'), accuracy = loadAccuracy();
const model = costModelFor({ edge, cloud, accuracy, config: PRESETS['gpt2-xl'] });
const graph = model.graph, L = graph.config.nLayer, C = cutClasses(L), footprint = modelFootprint(graph);
const memory = memoryRange(model, edge, footprint);

/** Training channels: the v1 mix (Wi-Fi, LTE, 5G; a third with outages) and, one time in three, degraded LTE with outages. */
const channel = (rng: Rng): Channel => (rng.next() < 1 / 3 ? new MarkovChannel(scaledSpec(CHANNEL_SPECS.lte, 0.4, 1.6), rng, OUTAGES) : trainingChannel(rng));
const base = envConfig(model, edge, channel, LEN, memory);
const DYN: DynamicsOptions[] = [{ switching: DEFAULT_SWITCHING }, { switching: DEFAULT_SWITCHING, contention: DEFAULT_CONTENTION }];
const cfgOf = (seed: number): EnvConfig => ({ ...base, dynamics: DYN[seed % 2]! });
const teacherFor = (cfg: EnvConfig): Planner => new SwitchAwarePlanner(DEFAULT_SWITCHING, Number(args.horizon), false, cfg.dynamics?.contention);

// ---- the student (tfjs) ----
const rng = new Rng(SEED);
const glorot = (i: number, o: number): Float32Array => {
  const lim = Math.sqrt(6 / (i + o));
  return Float32Array.from({ length: i * o }, () => rng.uniform(-lim, lim));
};
const layer = (i: number, o: number) => ({ w: tf.variable(tf.tensor2d(glorot(i, o), [i, o])), b: tf.variable(tf.zeros([o])), i, o });
const net = { l1: layer(FEATURE_DIM_V2, HIDDEN), l2: layer(HIDDEN, HIDDEN), out: layer(HIDDEN, C) };
const forward = (x: tf.Tensor2D): tf.Tensor2D => {
  const h1 = tf.tanh(tf.add(tf.matMul(x, net.l1.w), net.l1.b)) as tf.Tensor2D;
  const h2 = tf.tanh(tf.add(tf.matMul(h1, net.l2.w), net.l2.b)) as tf.Tensor2D;
  return tf.add(tf.matMul(h2, net.out.w), net.out.b) as tf.Tensor2D;
};
const snapshot = (): CutPolicyWeights => {
  const d = (l: typeof net.l1): Dense => ({ inDim: l.i, outDim: l.o, w: Float32Array.from(l.w.dataSync()), b: Float32Array.from(l.b.dataSync()) });
  return { featureDim: FEATURE_DIM_V2, hidden: HIDDEN, layers: L, l1: d(net.l1), l2: d(net.l2), out: d(net.out) };
};
const studentPlanner = (w: CutPolicyWeights): Planner => ({
  name: 'student',
  decide: (s: DecisionState) => {
    const d = decodeCut(graph, argmaxMasked(cutForwardJs(w, featureVectorV2(s, footprint)), cutMask(graph, s)));
    return { plan: d.plan, precision: d.precision };
  },
});

// ---- data ----
const X: number[] = [], Y: number[] = [], M: number[] = [];
function labelOf(s: DecisionState, teacher: Planner, energy: ReturnType<SplitwiseEnv['energyModel']>): number {
  const d = teacher.decide(s, { model, energy, objective: OBJECTIVE }) as { plan: { cloudHeads: Int32Array }; precision: 'fp32' | 'fp16' | 'int8' };
  let k = 0;
  while (k < L && d.plan.cloudHeads[k] === 0) k++;
  return classOf(k, d.precision);
}
/** Roll out `actor` on `seed`; label every visited state with the teacher. */
function collect(seed: number, actor: Planner | 'teacher'): { agree: number; n: number } {
  const cfg = cfgOf(seed), env = new SplitwiseEnv(cfg), teacher = teacherFor(cfg);
  let s = env.reset(seed), agree = 0, n = 0;
  for (;;) {
    const energy = env.energyModel(), y = labelOf(s, teacher, energy), mask = cutMask(graph, s);
    X.push(...featureVectorV2(s, footprint));
    Y.push(y);
    M.push(...mask);
    let d;
    if (actor === 'teacher') d = decodeCut(graph, y);
    else {
      d = actor.decide(s, { model, energy, objective: OBJECTIVE }) as { plan: never; precision: never };
      const dd = d as unknown as { plan: { cloudHeads: Int32Array }; precision: 'fp32' | 'fp16' | 'int8' };
      let k = 0;
      while (k < L && dd.plan.cloudHeads[k] === 0) k++;
      if (classOf(k, dd.precision) === y) agree++;
    }
    n++;
    const r = env.step((d as { plan: never }).plan, (d as { precision: never }).precision);
    s = r.state;
    if (r.done) break;
  }
  return { agree, n };
}

const opt = tf.train.adam(3e-3);
function fit(epochs: number): number {
  const N = Y.length;
  const x = tf.tensor2d(Float32Array.from(X), [N, FEATURE_DIM_V2]);
  const y = tf.oneHot(tf.tensor1d(Int32Array.from(Y), 'int32'), C);
  const negMask = tf.mul(tf.sub(1, tf.tensor2d(Float32Array.from(M), [N, C])), -1e4);
  const order = Array.from({ length: N }, (_, i) => i);
  let last = 0;
  for (let e = 0; e < epochs; e++) {
    for (let i = N - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let tot = 0;
    for (let b = 0; b < N; b += 256) {
      const idx = tf.tensor1d(Int32Array.from(order.slice(b, b + 256)), 'int32');
      const loss = opt.minimize(() => tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.gather(y, idx), tf.add(forward(tf.gather(x, idx) as tf.Tensor2D), tf.gather(negMask, idx)))), true)!;
      tot += loss.dataSync()[0]! * Math.min(256, N - b);
      loss.dispose();
      idx.dispose();
    }
    last = tot / N;
  }
  x.dispose();
  y.dispose();
  negMask.dispose();
  return last;
}

async function validate(p: Planner): Promise<{ meanReward: number; meanLatencyS: number }> {
  const seeds = Array.from({ length: Number(args['validation-episodes']) }, (_, i) => VALIDATION_SEED_BASE + 7000 + i);
  let rw = 0, lat = 0, n = 0;
  for (const seed of seeds) {
    const cfg = cfgOf(seed), env = new SplitwiseEnv(cfg), actor = p.name === 'teacher' ? teacherFor(cfg) : p;
    let s = env.reset(seed);
    for (;;) {
      const d = await actor.decide(s, { model, energy: env.energyModel(), objective: OBJECTIVE });
      const r = env.step(d.plan, d.precision);
      rw += r.reward;
      lat += r.info.latencyS;
      n++;
      s = r.state;
      if (r.done) break;
    }
  }
  return { meanReward: rw / n, meanLatencyS: lat / n };
}

const log: Array<Record<string, number>> = [];
const teacherVal = await validate({ name: 'teacher', decide: () => { throw new Error('unused'); } });
const dppVal = await validate(new AdaptiveLayerSplitPlanner());
console.log(`validation: teacher reward ${teacherVal.meanReward.toFixed(3)} latency ${teacherVal.meanLatencyS.toFixed(1)} s; DPP layer ${dppVal.meanReward.toFixed(3)} / ${dppVal.meanLatencyS.toFixed(1)} s`);
let best: { w: CutPolicyWeights; val: { meanReward: number; meanLatencyS: number }; iteration: number } | undefined;
let seed = TRAIN_SEED_BASE + 300_000;
for (let it = 0; it < ITER; it++) {
  let agree = 0, n = 0;
  const actor = it === 0 ? 'teacher' : studentPlanner(snapshot());
  for (let e = 0; e < EPISODES; e++) {
    const r = collect(seed++, actor);
    agree += r.agree;
    n += r.n;
  }
  const loss = fit(it === 0 ? EPOCHS : Math.ceil(EPOCHS / 2));
  const w = snapshot(), val = await validate(studentPlanner(w));
  log.push({ iteration: it, samples: Y.length, studentAgreement: it === 0 ? NaN : agree / n, loss, valReward: val.meanReward, valLatencyS: val.meanLatencyS, seconds: (performance.now() - t0) / 1000 });
  console.log(`iteration ${it}: ${Y.length} samples, on-policy agreement ${it === 0 ? '-' : ((100 * agree) / n).toFixed(1) + ' %'}, loss ${loss.toFixed(3)}, validation reward ${val.meanReward.toFixed(3)} latency ${val.meanLatencyS.toFixed(1)} s (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  if (!best || val.meanReward > best.val.meanReward) best = { w, val, iteration: it };
}

// ---- write ----
const w = best!.w;
await mkdir(args.out, { recursive: true });
await writeFile(`${args.out}/policy-weights.json`, JSON.stringify(cutWeightsToJson(w)) + '\n');
await writeFile(`${args.out}/policy.onnx`, buildCutPolicyOnnx(w));
// the parity fixture: 1,000 states the kept student visits on validation-like seeds (with their masks)
const states: Array<{ features: number[]; request: { prompt: number; gen: number }; memoryFreeBytes: number; action: number }> = [];
for (let sd = VALIDATION_SEED_BASE + 9000; states.length < 1000; sd++) {
  const cfg = cfgOf(sd), env = new SplitwiseEnv(cfg), p = studentPlanner(w);
  let s = env.reset(sd);
  for (;;) {
    const f = featureVectorV2(s, footprint), a = argmaxMasked(cutForwardJs(w, f), cutMask(graph, s));
    states.push({ features: Array.from(f), request: s.request, memoryFreeBytes: s.memoryFreeBytes, action: a });
    const d = p.decide(s, { model, energy: env.energyModel(), objective: OBJECTIVE }) as { plan: never; precision: never };
    const r = env.step(d.plan, d.precision);
    s = r.state;
    if (r.done || states.length >= 1000) break;
  }
}
await writeFile(args.fixture, JSON.stringify({ model: 'gpt2-xl', featureDim: FEATURE_DIM_V2, classes: C, states }) + '\n');
const seconds = (performance.now() - t0) / 1000;
await writeFile(
  `${args.out}/training-log.json`,
  JSON.stringify(
    {
      command: `npx tsx scripts/train-cut-policy.ts ${process.argv.slice(2).join(' ')}`.trim(),
      date: new Date().toISOString(),
      machine: `${os.cpus().length} x ${os.cpus()[0]?.model}`,
      seconds,
      scenario: 'gpt2-xl shape, rpi5-8gb edge, node-epyc-2vcpu cloud; channels: v1 training mix (2/3) and degraded LTE with outages (1/3); dynamics: switching costs always, contention on odd seeds',
      teacher: `SwitchAwarePlanner (H=${args.horizon}, load forecast on contention episodes)`,
      validation: { teacher: teacherVal, dppLayer: dppVal, kept: { iteration: best!.iteration, ...best!.val } },
      iterations: log,
    },
    null,
    1,
  ) + '\n',
);
console.log(`kept iteration ${best!.iteration}: validation reward ${best!.val.meanReward.toFixed(3)} (teacher ${teacherVal.meanReward.toFixed(3)}, DPP layer ${dppVal.meanReward.toFixed(3)}); wrote ${args.out} and ${args.fixture} in ${seconds.toFixed(0)} s`);
