// npm run eval:policy — the trained policy (its exported ONNX, run by onnxruntime-node) against
// every baseline, on channels and seeds it never trained on. Writes docs/policy-eval.{md,json} and
// plots docs/policy-eval-*.svg.
//
//   npx tsx scripts/eval-policy.ts [--episodes 6] [--episode-length 48] [--norway DIR]
//                                  [--model gpt2-xl --edge rpi5-8gb --policy packages/policy/trained --name policy-eval]
// (another model/edge evaluates the policy trained for it, e.g. `npm run eval:policy:page`)
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { OrtNodeRuntime } from '@splitwise/runtime-node';
import { runEpisodes, summarize, percentile, type Summary } from '../packages/policy/src/evaluate.ts';
import { MarkovChannel, CHANNEL_SPECS, parseTrace, TraceChannel, STEP_MS } from '../packages/policy/src/env/channel.ts';
import {
  AdaptiveLayerSplitPlanner,
  CloudOnlyPlanner,
  EdgeOnlyPlanner,
  OptimumPlanner,
  PolicyPlanner,
  StaticLayerSplitPlanner,
  type Planner,
} from '../packages/policy/src/planners.ts';
import { PolicyRunner } from '../packages/policy/src/policy-runner.ts';
import { costModelFor, envConfig, evalScenarios, memoryRange, EVAL_SEED_BASE, OBJECTIVE, type EvalScenario } from '../packages/policy/src/scenario.ts';
import { modelFootprint } from '../packages/policy/src/policy-runner.ts';
import { PRESETS } from '@splitwise/core';
import { DEFAULT_WORKLOAD } from '../packages/policy/src/env/simulator.ts';
import { loadAccuracy, loadProfile } from '../packages/policy/src/node/files.ts';
import { barChart } from '../packages/policy/src/svg-plot.ts';
import { Rng } from '../packages/policy/src/rng.ts';

const { values: args } = parseArgs({
  options: {
    episodes: { type: 'string', default: '6' },
    'episode-length': { type: 'string', default: '48' },
    out: { type: 'string', default: 'docs' },
    norway: { type: 'string', default: '../shared/data/traces/norway' },
    model: { type: 'string', default: 'gpt2-xl' },
    edge: { type: 'string', default: 'rpi5-8gb' },
    /** The folder with the policy.onnx trained for this model and edge. */
    policy: { type: 'string', default: 'packages/policy/trained' },
    /** Stem of the output files in --out. */
    name: { type: 'string', default: 'policy-eval' },
  },
});
const EPISODES = Number(args.episodes), LEN = Number(args['episode-length']);
const t0 = performance.now();
if (!(args.model in PRESETS)) throw new Error(`--model must be one of ${Object.keys(PRESETS).join(', ')}`);
const edge = loadProfile(args.edge), cloud = loadProfile('node-epyc-2vcpu'), accuracy = loadAccuracy();
const model = costModelFor({ edge, cloud, accuracy, config: PRESETS[args.model as keyof typeof PRESETS] });
const graph = model.graph;
const memory = memoryRange(model, edge, modelFootprint(graph));
const scenarioArgs = args.model === 'gpt2-xl' && args.edge === 'rpi5-8gb' ? '' : ` --model ${args.model} --edge ${args.edge} --policy ${args.policy} --name ${args.name}`;
const NAME = args.name;

const readTraces = (dir: string) =>
  readdirSync(dir)
    .filter((f) => !f.endsWith('.md'))
    .map((f) => ({ name: f, samples: parseTrace(readFileSync(join(dir, f), 'utf8')) }))
    .filter((t) => t.samples.length > 1);
const fcc = readTraces('packages/policy/traces/fcc');
const scenarios: EvalScenario[] = evalScenarios(fcc);
// Norway 3G commute traces: read only when the development environment has them (never in tests)
if (existsSync(args.norway)) {
  const norway = readTraces(args.norway).slice(0, 40);
  scenarios.push({
    name: 'norway-3g-traces',
    channel: (rng) => {
      const t = rng.pick(norway);
      return new TraceChannel(`norway:${t.name}`, t.samples, rng, { upRatio: 0.5, rttMs: 60, rttSigma: 0.3, radio: 'lte' });
    },
    unseen: `real 3G/HSDPA commute traces (Riiser et al. 2013), ${norway.length} files read from ${args.norway}; never used in training`,
  });
}

// Neurosurgeon's "average conditions": the time-average network of the training channel mix
function averageNetwork(): { downMbps: number; upMbps: number; rttMs: number } {
  const rng = new Rng(99);
  let d = 0, u = 0, r = 0, n = 0;
  for (const kind of ['wifi', 'lte', '5g'] as const) {
    const ch = new MarkovChannel(CHANNEL_SPECS[kind], rng.fork());
    for (let i = 0; i < 20_000; i++) {
      const s = ch.at(i * STEP_MS);
      d += s.downMbps;
      u += s.upMbps;
      r += s.rttMs;
      n++;
    }
  }
  return { downMbps: d / n, upMbps: u / n, rttMs: r / n };
}
const avgNet = averageNetwork();
const staticSplit = StaticLayerSplitPlanner.choose(model, avgNet, { prompt: DEFAULT_WORKLOAD.prompt.median, gen: DEFAULT_WORKLOAD.gen.median });

const runner = await PolicyRunner.create(new OrtNodeRuntime({ intraOpNumThreads: 1 }), new Uint8Array(readFileSync(join(args.policy, 'policy.onnx'))), graph);
const policy = new PolicyPlanner('Splitwise policy (ONNX)', async (s) => (await runner.outputs(runner.features(s)))[0]!);
const planners: Planner[] = [policy, new EdgeOnlyPlanner(), new CloudOnlyPlanner(), staticSplit, new AdaptiveLayerSplitPlanner(), new OptimumPlanner()];
console.log(`average network (training mix): ${avgNet.downMbps.toFixed(1)}/${avgNet.upMbps.toFixed(1)} Mbit/s, ${avgNet.rttMs.toFixed(1)} ms -> ${staticSplit.name}`);

const seeds = Array.from({ length: EPISODES }, (_, i) => EVAL_SEED_BASE + i);
const results: Array<{ scenario: string; unseen: string; planner: string; summary: Summary }> = [];
for (const sc of scenarios) {
  const cfg = envConfig(model, edge, sc.channel, LEN, memory);
  for (const p of planners) {
    const t = performance.now();
    const s = summarize(await runEpisodes(cfg, p, seeds));
    results.push({ scenario: sc.name, unseen: sc.unseen, planner: p.name, summary: s });
    console.log(
      `${sc.name.padEnd(17)} ${p.name.padEnd(30)} latency ${s.meanLatencyS.toFixed(1).padStart(6)} s  p95 ${s.p95LatencyS.toFixed(1).padStart(6)}  service ${s.meanServiceS.toFixed(1).padStart(5)}  ` +
        `${s.energyPerTokenJ.toFixed(2)} J/tok  KL ${s.meanAccuracyLoss.toExponential(1)}  Q ${s.meanQueue.toFixed(2)}  reward ${s.meanReward.toFixed(2).padStart(8)}  ` +
        `cloud ${s.meanCloudFraction.toFixed(2)}  ${s.meanDecisionMs.toFixed(2)} ms/decision  (${((performance.now() - t) / 1000).toFixed(0)} s)`,
    );
  }
}

// decision time of the exported policy alone: features -> ONNX -> plan, one state at a time
const env = new (await import('../packages/policy/src/env/simulator.ts')).SplitwiseEnv(envConfig(model, edge, scenarios[0]!.channel, LEN, memory));
const times: number[] = [];
let st = env.reset(EVAL_SEED_BASE + 999);
for (let i = 0; i < 300; i++) {
  const { action, ms } = await runner.decide(st);
  if (i >= 20) times.push(ms);
  const r = env.step(action.counts, action.precision);
  st = r.done ? env.reset(EVAL_SEED_BASE + 1000 + i) : r.state;
}
const decision = { p50Ms: percentile(times, 0.5), p99Ms: percentile(times, 0.99), runtime: 'onnxruntime-node 1.30.0, 1 intra-op thread', samples: times.length };
console.log(`policy decision time: p50 ${decision.p50Ms.toFixed(3)} ms, p99 ${decision.p99Ms.toFixed(3)} ms`);
await runner.release();

// aggregates and comparisons
const names = planners.map((p) => p.name);
const sc = scenarios.map((s) => s.name);
const get = (s: string, p: string): Summary => results.find((r) => r.scenario === s && r.planner === p)!.summary;
const pooled = (p: string, k: keyof Summary): number => sc.reduce((a, s) => a + (get(s, p)[k] as number), 0) / sc.length;
const layerBaselines = [staticSplit.name, 'adaptive layer split'];
const comparisons = sc.map((s) => {
  const pol = get(s, policy.name), bestLayer = layerBaselines.map((n) => get(s, n)).reduce((a, b) => (a.meanLatencyS < b.meanLatencyS ? a : b));
  const staticS = get(s, staticSplit.name), cloudS = get(s, 'cloud-only'), opt = get(s, 'exact optimum (DP)');
  return {
    scenario: s,
    latencyVsBestLayerSplit: bestLayer.meanLatencyS / pol.meanLatencyS,
    latencyVsStaticSplit: staticS.meanLatencyS / pol.meanLatencyS,
    energyVsStaticSplit: 1 - pol.energyPerTokenJ / staticS.energyPerTokenJ,
    energyVsBestLayerSplit: 1 - pol.energyPerTokenJ / bestLayer.energyPerTokenJ,
    p95VsCloudOnly: 1 - pol.p95LatencyS / cloudS.p95LatencyS,
    rewardGapToOptimum: pol.meanReward - opt.meanReward,
  };
});

const f = (v: number, d = 1): string => (Number.isFinite(v) ? v.toFixed(d) : '–');
const md: string[] = [];
md.push(`# Policy evaluation`, '');
md.push(`Made by \`npm run eval:policy\` (\`npx tsx scripts/eval-policy.ts --episodes ${EPISODES} --episode-length ${LEN}${scenarioArgs}\`) on ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} x ${os.cpus()[0]?.model}, in ${((performance.now() - t0) / 1000).toFixed(0)} s.`);
const c = graph.config;
md.push('', `Setting: ${args.model} shape (${c.nLayer} layers, ${c.nHead} heads, ${graph.ffnChunks} FFN chunks), free edge memory ${(memory.min / 2 ** 30).toFixed(2)}-${(memory.max / 2 ** 30).toFixed(2)} GiB, edge = \`${edge.name}\` (derived profile), cloud = \`${cloud.name}\` (measured), objective V=${OBJECTIVE.V}, w_e=${OBJECTIVE.wEnergy}, w_a=${OBJECTIVE.wAccuracy}, energy budget ${OBJECTIVE.energyBudgetJ} J/token, accuracy budget ${OBJECTIVE.accuracyBudget} nats/token. ${EPISODES} episodes x ${LEN} requests per scenario, seeds ${seeds[0]}..${seeds.at(-1)} (training used seeds below 500,000). Static layer split chosen for the training mix's average network (${avgNet.downMbps.toFixed(0)}/${avgNet.upMbps.toFixed(0)} Mbit/s, ${avgNet.rttMs.toFixed(0)} ms): ${staticSplit.name}.`, '');
for (const s of sc) {
  md.push(`## ${s}`, '', `Unseen: ${scenarios.find((x) => x.name === s)!.unseen}.`, '');
  md.push('| planner | mean latency s | p95 latency s | mean service s | edge J/token | KL/token | mean queue | max queue | reward | cloud share | syncs/token | fp32/fp16/int8 |');
  md.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const p of names) {
    const x = get(s, p), ps = x.precisionShare;
    md.push(`| ${p} | ${f(x.meanLatencyS)} | ${f(x.p95LatencyS)} | ${f(x.meanServiceS)} | ${f(x.energyPerTokenJ, 2)} | ${x.meanAccuracyLoss.toExponential(1)} | ${f(x.meanQueue, 2)} | ${x.maxQueue} | ${f(x.meanReward, 2)} | ${f(x.meanCloudFraction, 2)} | ${f(x.syncsPerToken, 2)} | ${[ps.fp32 ?? 0, ps.fp16 ?? 0, ps.int8 ?? 0].map((v) => Math.round(100 * v)).join('/')} |`);
  }
  md.push('');
}
md.push('## Against the paper\'s claims', '');
md.push('| scenario | latency: best layer split / policy | latency: static split / policy | energy saved vs static split | energy saved vs best layer split | p95 lower than cloud-only | reward gap to the exact optimum |');
md.push('|---|---:|---:|---:|---:|---:|---:|');
for (const c of comparisons) md.push(`| ${c.scenario} | ${f(c.latencyVsBestLayerSplit, 2)}x | ${f(c.latencyVsStaticSplit, 2)}x | ${f(100 * c.energyVsStaticSplit)} % | ${f(100 * c.energyVsBestLayerSplit)} % | ${f(100 * c.p95VsCloudOnly)} % | ${f(c.rewardGapToOptimum, 2)} |`);
md.push('', `Policy decision time (features, ONNX, plan) in Node: p50 ${decision.p50Ms.toFixed(3)} ms, p99 ${decision.p99Ms.toFixed(3)} ms (${decision.runtime}, ${decision.samples} decisions). Exact optimum (DP): ${f(pooled('exact optimum (DP)', 'meanDecisionMs'), 1)} ms per decision on average.`);
await mkdir(args.out, { recursive: true });
await writeFile(`${args.out}/${NAME}.md`, md.join('\n') + '\n');
await writeFile(`${args.out}/${NAME}.json`, JSON.stringify({ command: `npx tsx scripts/eval-policy.ts --episodes ${EPISODES} --episode-length ${LEN}${scenarioArgs}`, model: args.model, edge: edge.name, date: new Date().toISOString().slice(0, 10), averageNetwork: avgNet, staticSplit: staticSplit.name, decision, comparisons, results }, null, 1) + '\n');
const short = (n: string): string => n.replace('Splitwise policy (ONNX)', 'policy').replace('exact optimum (DP)', 'optimum (DP)');
for (const [key, label, file] of [
  ['meanLatencyS', 'mean end-to-end latency (s)', 'latency'],
  ['p95LatencyS', 'p95 end-to-end latency (s)', 'p95'],
  ['energyPerTokenJ', 'edge energy per token (J)', 'energy'],
  ['meanQueue', 'mean queue backlog (requests)', 'queue'],
] as const) {
  await writeFile(`${args.out}/${NAME}-${file}.svg`, barChart({ title: label, yLabel: label, categories: sc, series: names.map((p) => ({ name: short(p), values: sc.map((s) => get(s, p)[key] as number) })) }));
}
console.log(`wrote ${args.out}/${NAME}.md, ${NAME}.json, ${NAME}-{latency,p95,energy,queue}.svg; ${((performance.now() - t0) / 1000).toFixed(0)} s`);
