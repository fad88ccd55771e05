// Load a model folder into the split engine and report time and memory at each stage:
//   npx tsx scripts/measure-load.ts --model models/gpt2-xl [--plan half] [--tokens 8]
// (make the folder first: npx splitwise make-model --config gpt2-xl --out models/gpt2-xl)
import { parseArgs } from 'node:util';
import { buildModelGraph, parameterCount, planFromSpec } from '@splitwise/core';
import { loadGpt2FromDir } from '@splitwise/checkpoint/node';
import { createLocalSplit } from '@splitwise/runtime-node';

const { values: a } = parseArgs({ options: { model: { type: 'string' }, plan: { type: 'string', default: 'half' }, tokens: { type: 'string', default: '8' }, 'constant-layers': { type: 'string', default: 'true' } } });
if (!a.model) throw new Error('--model DIR is required');
const gib = (b: number): number => +(b / 2 ** 30).toFixed(2);
let peakRss = 0;
const timer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
const stages: Array<Record<string, unknown>> = [];
const stage = (name: string, t0: number): void => {
  const m = process.memoryUsage();
  peakRss = Math.max(peakRss, m.rss);
  stages.push({ stage: name, seconds: +((performance.now() - t0) / 1000).toFixed(2), rssGiB: gib(m.rss), peakRssGiB: gib(peakRss), arrayBuffersGiB: gib(m.arrayBuffers) });
  console.error(JSON.stringify(stages.at(-1)));
};

let t = performance.now();
const ckpt = await loadGpt2FromDir(a.model);
stage('load checkpoint', t);
t = performance.now();
const graph = buildModelGraph(ckpt.config);
const split = await createLocalSplit(ckpt, planFromSpec(a.plan!, graph), { constantLayers: a['constant-layers'] === 'true' });
stage('create sessions (weightless graphs)', t);
t = performance.now();
await split.edge.forward(Array.from({ length: Number(a.tokens) }, (_, i) => i + 1));
stage(`first forward, ${a.tokens} tokens (builds constant layer graphs on first use)`, t);
t = performance.now();
const steps = 8;
for (let i = 0; i < steps; i++) await split.edge.forward([100 + i]);
stage(`${steps} decode steps`, t);
clearInterval(timer);
console.log(JSON.stringify({ model: a.model, parameters: parameterCount(ckpt.config), plan: a.plan, constantLayers: a['constant-layers'], stages }, null, 2));
