// Constant subset graphs (SplitSessions' constantSubsets) against the weightless ones, without a
// socket: both sides in this process over the in-memory link, gpt2-small dimensions (random
// weights), on onnxruntime-web's WASM build (which copies every input per call, as in the browser)
// or on onnxruntime-node (which binds inputs without copying). Per-token decode and 32-token
// prefill medians of edge-only, and of the half plan with weightless and with constant subsets;
// rounds interleave the three. This isolates what weight copies cost from what round trips cost
// (`npm run bench:e2e -- --weightless` measures both together, in Chromium).
//   tsx scripts/bench-subsets.ts [--runtime web|node] [--rounds 3] [--threads 2]
(globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated ??= true; // ORT-web threads in Node
import { parseArgs } from 'node:util';
import * as ortWeb from 'onnxruntime-web';
import {
  PRESETS,
  CloudExecutor,
  EdgeExecutor,
  InMemoryLink,
  SplitSessions,
  SplitWeights,
  buildModelGraph,
  edgeOnlyPlan,
  halfPlan,
  type PartitionPlan,
  type RuntimeAdapter,
  type TensorLike,
} from '@splitwise/core';
import { makeRandomGpt2 } from '@splitwise/checkpoint';
import { graphSource } from '@splitwise/onnx-graphs';
import { OrtNodeRuntime } from '@splitwise/runtime-node';

const { values: a } = parseArgs({
  options: {
    runtime: { type: 'string', default: 'web' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
  },
});
const ROUNDS = Number(a.rounds), threads = Number(a.threads);

/** onnxruntime-web's WASM build in Node, with the browser adapter's session options and tensor handling. */
function webRuntime(): RuntimeAdapter {
  ortWeb.env.wasm.numThreads = threads;
  ortWeb.env.logLevel = 'error';
  return {
    name: `onnxruntime-web/wasm in Node, ${threads} threads`,
    copiesInputs: true,
    async createSession(model) {
      const s = await ortWeb.InferenceSession.create(model, { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
      return {
        async run(feeds) {
          const input: Record<string, ortWeb.Tensor> = {};
          for (const [k, v] of Object.entries(feeds)) input[k] = new ortWeb.Tensor(v.dtype, v.data, v.dims);
          const r = await s.run(input), out: Record<string, TensorLike> = {};
          for (const [k, v] of Object.entries(r)) out[k] = { dtype: 'float32', dims: v.dims, data: v.data as Float32Array };
          return out;
        },
        release: () => s.release(),
      };
    },
  };
}

const runtime = a.runtime === 'node' ? new OrtNodeRuntime({ intraOpNumThreads: threads }) : webRuntime();
const ckpt = makeRandomGpt2(PRESETS.gpt2, 0), graph = buildModelGraph(ckpt.config), source = graphSource(ckpt);

async function subject(plan: PartitionPlan, constantSubsets: boolean) {
  const [edge, cloud] = await Promise.all([SplitSessions.create(runtime, source, { constantSubsets }), SplitSessions.create(runtime, source, { constantSubsets })]);
  const link = new InMemoryLink(new CloudExecutor(graph, new SplitWeights(ckpt, graph), cloud));
  return EdgeExecutor.create(graph, new SplitWeights(ckpt, graph), edge, link, plan);
}
const subjects: Array<[string, EdgeExecutor]> = [
  ['edge only', await subject(edgeOnlyPlan(graph), false)],
  ['half, weightless subsets', await subject(halfPlan(graph), false)],
  ['half, constant subsets', await subject(halfPlan(graph), true)],
];
const prompt = Array.from({ length: 32 }, (_, i) => (i * 7919) % 50000);
const ids = Array.from({ length: 32 }, (_, i) => (i * 104729 + 13) % 50000);
const decode = new Map<string, number[]>(), prefill = new Map<string, number[]>();
for (let round = 0; round <= ROUNDS; round++) {
  for (const [name, edge] of subjects) {
    await edge.reset();
    let t = performance.now();
    await edge.forward(prompt);
    const p = performance.now() - t, d: number[] = [];
    for (const id of ids) {
      t = performance.now();
      await edge.forward([id]);
      d.push(performance.now() - t);
    }
    if (round === 0) continue; // warm-up: builds every graph the plans use
    prefill.set(name, [...(prefill.get(name) ?? []), p]);
    decode.set(name, [...(decode.get(name) ?? []), ...d]);
  }
  process.stderr.write(`round ${round}/${ROUNDS}\r`);
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const base = median(decode.get('edge only')!);
console.log(`\n${runtime.name}; gpt2-small dims, both sides in one process (in-memory link); ${ROUNDS} rounds of a 32-token prefill + 32 decode steps\n`);
console.log('| plan | decode ms / token (median) | × edge only | prefill 32 ms |');
console.log('|---|---:|---:|---:|');
for (const [name] of subjects) {
  const d = median(decode.get(name)!);
  console.log(`| ${name} | ${d.toFixed(1)} | ${(d / base).toFixed(2)} | ${median(prefill.get(name)!).toFixed(0)} |`);
}
process.exit(0); // onnxruntime-web's worker threads would keep Node alive
