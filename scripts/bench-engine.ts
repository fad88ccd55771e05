// npm run bench:engine — per-token cost of the split engine against the monolithic graph.
// gpt2-small dimensions (random weights), onnxruntime-node, 2 intra-op threads per side, both
// sides in this process over the in-memory link. Plans are interleaved round by round so slow
// drift of the machine affects them alike. Prints a table and writes JSON (--out).
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import os from 'node:os';
import {
  PRESETS,
  buildModelGraph,
  cloudOnlyPlan,
  edgeOnlyPlan,
  halfPlan,
  layerSplitPlan,
  syncPointsPerForward,
  type PartitionPlan,
} from '@splitwise/core';
import { makeRandomGpt2 } from '@splitwise/checkpoint';
import { createLocalSplit, createMonolithic } from '@splitwise/runtime-node';
import { median, percentile } from '../packages/cli/src/stats.ts';

const { values: args } = parseArgs({
  options: {
    config: { type: 'string', default: 'gpt2' },
    rounds: { type: 'string', default: '6' },
    decode: { type: 'string', default: '32' },
    prefill: { type: 'string', default: '128' },
    threads: { type: 'string', default: '2' },
    out: { type: 'string', default: 'out/bench-engine.json' },
  },
});
const preset = args.config as keyof typeof PRESETS;
const config = PRESETS[preset];
if (!config) throw new Error(`unknown preset ${args.config}`);
const ROUNDS = Number(args.rounds), DECODE = Number(args.decode), PREFILL = Number(args.prefill), threads = Number(args.threads);


const ckpt = makeRandomGpt2(config, 0);
const graph = buildModelGraph(config);
const prompt = Array.from({ length: PREFILL }, (_, i) => (i * 7919) % config.vocabSize);
const decodeIds = Array.from({ length: DECODE }, (_, i) => (i * 104729 + 13) % config.vocabSize);

interface Subject {
  name: string;
  plan?: PartitionPlan;
  reset(): Promise<void>;
  forward(ids: number[]): Promise<unknown>;
  link?: { calls: number; bytesUp: number; bytesDown: number };
}

const mono = await createMonolithic(ckpt, { intraOpNumThreads: threads });
const subjects: Subject[] = [{ name: 'monolithic', reset: async () => mono.reset(), forward: (ids) => mono.forward(ids) }];
const plans: Array<[string, PartitionPlan]> = [
  ['edge-only', edgeOnlyPlan(graph)],
  ['cloud-only', cloudOnlyPlan(graph)],
  ['half heads+chunks', halfPlan(graph)],
  [`layers:${config.nLayer / 2} (layer cut)`, layerSplitPlan(graph, config.nLayer / 2)],
];
for (const [name, plan] of plans) {
  const s = await createLocalSplit(ckpt, plan, { intraOpNumThreads: threads });
  subjects.push({ name, plan, reset: () => s.edge.reset(), forward: (ids) => s.edge.forward(ids), link: s.link.stats });
}

const samples = new Map(subjects.map((s) => [s.name, { prefill: [] as number[], decode: [] as number[], calls: 0, up: 0, down: 0, tokens: 0 }]));
for (let round = 0; round <= ROUNDS; round++) {
  for (const s of subjects) {
    const m = samples.get(s.name)!;
    await s.reset();
    const before = s.link ? { ...s.link } : undefined;
    let t = performance.now();
    await s.forward(prompt);
    const prefillMs = performance.now() - t;
    const afterPrefill = s.link ? { ...s.link } : undefined;
    const dec: number[] = [];
    for (const id of decodeIds) {
      t = performance.now();
      await s.forward([id]);
      dec.push(performance.now() - t);
    }
    if (round === 0) continue; // warm-up round
    m.prefill.push(prefillMs);
    m.decode.push(...dec);
    if (s.link && before && afterPrefill) {
      m.calls += s.link.calls - afterPrefill.calls;
      m.up += s.link.bytesUp - afterPrefill.bytesUp;
      m.down += s.link.bytesDown - afterPrefill.bytesDown;
      m.tokens += DECODE;
    }
  }
  process.stderr.write(`round ${round}/${ROUNDS}\r`);
}

const base = samples.get('monolithic')!;
const baseDecode = median(base.decode), basePrefill = median(base.prefill);
const rows = subjects.map((s) => {
  const m = samples.get(s.name)!;
  const d = median(m.decode), p = median(m.prefill);
  return {
    subject: s.name,
    decodeMsMedian: +d.toFixed(3),
    decodeMsP95: +percentile(m.decode, 0.95).toFixed(3),
    decodeRatio: +(d / baseDecode).toFixed(3),
    prefillMsMedian: +p.toFixed(2),
    prefillRatio: +(p / basePrefill).toFixed(3),
    syncPointsPerToken: s.plan ? syncPointsPerForward(s.plan) : 0,
    bytesPerTokenUp: m.tokens ? Math.round(m.up / m.tokens) : 0,
    bytesPerTokenDown: m.tokens ? Math.round(m.down / m.tokens) : 0,
  };
});

const result = {
  benchmark: 'engine',
  date: new Date().toISOString(),
  model: { preset, nLayer: config.nLayer, nHead: config.nHead, nEmbd: config.nEmbd, ffnChunks: graph.ffnChunks },
  machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
  runtime: `onnxruntime-node 1.30.0, cpu EP, intraOpNumThreads=${threads} per side, both sides in one process (in-memory link)`,
  method: `${ROUNDS} rounds after 1 warm-up, plans interleaved; prefill ${PREFILL} tokens; ${DECODE} decode steps per round at context ${PREFILL}..${PREFILL + DECODE}`,
  rows,
};
await mkdir(dirname(args.out!), { recursive: true });
await writeFile(args.out!, JSON.stringify(result, null, 2) + '\n');

console.log(`\nsplit engine vs monolithic graph — ${preset} (${config.nLayer}L ${config.nHead}H ${config.nEmbd}E), ${result.runtime}\n`);
console.log(
  ['plan'.padEnd(26), 'decode ms', 'p95 ms', 'x mono', 'prefill ms', 'x mono', 'sync/tok', 'B/tok up', 'B/tok down'].join(' | '),
);
for (const r of rows) {
  console.log(
    [
      r.subject.padEnd(26),
      r.decodeMsMedian.toFixed(2).padStart(9),
      r.decodeMsP95.toFixed(2).padStart(6),
      r.decodeRatio.toFixed(2).padStart(6),
      r.prefillMsMedian.toFixed(1).padStart(10),
      r.prefillRatio.toFixed(2).padStart(6),
      String(r.syncPointsPerToken).padStart(8),
      String(r.bytesPerTokenUp).padStart(8),
      String(r.bytesPerTokenDown).padStart(10),
    ].join(' | '),
  );
}
console.log(`\nJSON: ${args.out}`);
console.log(JSON.stringify(result));
