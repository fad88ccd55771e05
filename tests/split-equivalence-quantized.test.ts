// Quantized weights split exactly too. With int8 (per-channel) or q4 (block-wise) weights on both
// sides, every plan, also when it changes mid-sequence (KV caches rebuilt through constant kv
// graphs), gives the logits of the monolithic graph quantized the same way, within 1e-4, for
// GPT-2 (a tiny shape whose heads and FFN chunks are not multiples of 32 rows, and a shape whose
// are) and the LLaMA family (GQA units of 16 and 24 rows, q/k/v biases, tied and untied heads).
// Each side may run its own precision: an int8 edge with an fp32 cloud equals a monolithic graph
// whose edge layers (and LM head) are int8 and cloud layers fp32.
import { describe, expect, it } from 'vitest';
import {
  PRESETS,
  buildModelGraph,
  cloudOnlyPlan,
  edgeOnlyPlan,
  gpt2Config,
  halfPlan,
  layerSplitPlan,
  quantizeCheckpoint,
  randomPlan,
  type Checkpoint,
  type ModelConfig,
  type PartitionPlan,
  type QuantizedPrecision,
} from '@splitwise/core';
import { makeRandomModel } from '@splitwise/checkpoint';
import { createLocalSplit, createMonolithic } from '@splitwise/runtime-node';
import { buildMonolithicGraph } from '@splitwise/onnx-graphs';
import { MonolithicRunner } from '@splitwise/core';
import { OrtNodeRuntime } from '@splitwise/runtime-node';
import { maxAbs, maxAbsDiff, tokenIds } from './helpers.ts';

const TOL = 1e-4;
const PREFILL = 9;
const DECODE = 12;

const SHAPES: Array<[string, ModelConfig]> = [
  ['gpt2 tiny (16-row heads, uneven 150-wide FFN)', PRESETS.tiny],
  ['gpt2 64-row heads', gpt2Config({ nLayer: 2, nHead: 4, nEmbd: 256, vocabSize: 1024, nPositions: 64 })],
  ['llama-tiny (GQA units of 16 rows)', PRESETS['llama-tiny']],
  ['qwen2-tiny (units of 24 rows, biases, tied head)', PRESETS['qwen2-tiny']],
];

/** Prefill then decode, comparing every step's logits with `mono`; `changes` maps a decode step to the plan adopted before it. */
async function worstDiff(
  split: Awaited<ReturnType<typeof createLocalSplit>>,
  mono: MonolithicRunner,
  plan: PartitionPlan,
  seed: number,
  changes: Map<number, PartitionPlan> = new Map(),
): Promise<number> {
  const vocab = split.graph.config.vocabSize;
  await split.edge.reset(plan);
  mono.reset();
  const prompt = tokenIds(PREFILL, seed, vocab), next = tokenIds(DECODE, seed + 7, vocab);
  let worst = maxAbsDiff(await split.edge.forward(prompt), await mono.forward(prompt));
  for (let step = 0; step < DECODE; step++) {
    const change = changes.get(step);
    if (change) await split.edge.setPlan(change);
    worst = Math.max(worst, maxAbsDiff(await split.edge.forward([next[step]!]), await mono.forward([next[step]!])));
  }
  return worst;
}

for (const [name, config] of SHAPES) {
  for (const precision of ['int8', 'q4'] as const satisfies readonly QuantizedPrecision[]) {
    describe(`${name}, ${precision} weights on both sides`, () => {
      const ckpt = makeRandomModel(config, 31);
      const graph = buildModelGraph(config);

      it('the quantized monolithic graph differs from fp32 by quantization, and only by that', async () => {
        const [fp32, q] = await Promise.all([createMonolithic(ckpt), createMonolithic(ckpt, { weights: precision })]);
        const ids = tokenIds(PREFILL, 5, config.vocabSize);
        const a = await fp32.forward(ids), b = await q.forward(ids);
        const d = maxAbsDiff(a, b);
        expect(d, 'quantization changes the logits').toBeGreaterThan(10 * TOL);
        expect(d / maxAbs(a), 'but stays close to fp32').toBeLessThan(precision === 'int8' ? 0.05 : 0.3);
      });

      it('every plan, with plan changes mid-sequence, equals the monolithic graph quantized the same way', async () => {
        const mono = await createMonolithic(ckpt, { weights: precision });
        const split = await createLocalSplit(ckpt, edgeOnlyPlan(graph), { weights: precision });
        const plans: PartitionPlan[] = [edgeOnlyPlan(graph), cloudOnlyPlan(graph), halfPlan(graph), layerSplitPlan(graph, 1), ...Array.from({ length: 6 }, (_, i) => randomPlan(graph, 700 + i))];
        let changes = 0;
        for (const [i, plan] of plans.entries()) {
          const changeAt = i % 2 === 1 ? new Map([[3, randomPlan(graph, 900 + i)], [8, i % 4 === 1 ? cloudOnlyPlan(graph) : halfPlan(graph)]]) : new Map<number, PartitionPlan>();
          changes += changeAt.size;
          const worst = await worstDiff(split, mono, plan, i + 1, changeAt);
          expect(worst, `plan ${i}: ${JSON.stringify(plan.layers)}`).toBeLessThan(TOL);
        }
        expect(changes).toBeGreaterThanOrEqual(8);
        // every weight-carrying graph of both sides was a constant (quantized) one
        for (const s of [split.sessions.edge, split.sessions.cloud]) {
          expect(s.weightPrecision).toBe(precision);
          expect(s.options.constantSubsets && s.options.constantLayers).toBe(true);
        }
      });
    });
  }
}

describe('a weight precision per side', () => {
  /** `ckpt` with layers `quantizedLayers` (and the LM head) at `p`, the other layers fp32: what an edge at p and a cloud at fp32 compute under layerSplitPlan. */
  function partlyQuantized(ckpt: Checkpoint, p: QuantizedPrecision, quantizedLayers: (l: number) => boolean): Checkpoint {
    const q = quantizeCheckpoint(ckpt, p);
    const matrices = new Map(q.quantized!.matrices), tensors = new Map(q.tensors);
    const prefix = ckpt.config.family === 'gpt2' ? 'h' : 'layers';
    for (const key of [...matrices.keys()]) {
      const m = /^\w+\.(\d+)\./.exec(key);
      if (m && key.startsWith(`${prefix}.`) && !quantizedLayers(Number(m[1]))) {
        matrices.delete(key);
        tensors.set(key, ckpt.tensors.get(key)!);
      }
    }
    return { ...q, tensors, quantized: { ...q.quantized!, matrices } };
  }

  for (const [name, config] of [SHAPES[0]!, SHAPES[2]!]) {
    for (const p of ['int8', 'q4'] as const) {
      it(`${name}: a ${p} edge and an fp32 cloud equal the monolithic graph with the edge's layers at ${p}`, async () => {
        const ckpt = makeRandomModel(config, 17), graph = buildModelGraph(config);
        const split = await createLocalSplit(ckpt, edgeOnlyPlan(graph), { weights: { edge: p, cloud: 'fp32' } });
        expect(split.sessions.edge.weightPrecision).toBe(p);
        expect(split.sessions.cloud.weightPrecision).toBe('fp32');
        const runtime = new OrtNodeRuntime();
        for (const k of [0, 1, config.nLayer]) {
          // layers < k on the edge (at p), the rest on the cloud (fp32); the LM head is the edge's
          const ref = partlyQuantized(ckpt, p, (l) => l < k);
          const mono = new MonolithicRunner(config, await runtime.createSession(buildMonolithicGraph(ref), 'monolithic'));
          expect(await worstDiff(split, mono, layerSplitPlan(graph, k), 40 + k), `layers:${k}`).toBeLessThan(TOL);
        }
      });
    }
  }
});
