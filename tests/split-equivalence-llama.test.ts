// The split is exact for the LLaMA family too: grouped-query attention cut by KV groups, RoPE at
// the positions each segment carries, SwiGLU chunks over an intermediate size no chunk count
// divides, an untied head (llama-tiny) and q/k/v biases with a tied head (qwen2-tiny). For every
// plan, with plan changes mid-sequence that rebuild KV from the checkpoint, the split's logits
// equal the monolithic graph's and an independent float64 TypeScript forward's within 1e-4.
import { describe, expect, it } from 'vitest';
import {
  PRESETS,
  buildModelGraph,
  cloudOnlyPlan,
  edgeOnlyPlan,
  emptyLlamaReferenceCache,
  halfPlan,
  layerSplitPlan,
  llamaReferenceForward,
  randomPlan,
  type Checkpoint,
  type LlamaConfig,
  type PartitionPlan,
} from '@splitwise/core';
import { makeRandomModel } from '@splitwise/checkpoint';
import { createLocalSplit, createMonolithic } from '@splitwise/runtime-node';
import { maxAbs, maxAbsDiff, tokenIds } from './helpers.ts';

const TOL = 1e-4;
const PREFILL = 9;
const DECODE = 14;

for (const preset of ['llama-tiny', 'qwen2-tiny'] as const) {
  describe(`${preset}: split = monolithic = reference`, () => {
    const ckpt = makeRandomModel(PRESETS[preset], 21) as Checkpoint<LlamaConfig>;
    const c = ckpt.config;

    it('has the shape the case is about', () => {
      const graph = buildModelGraph(c);
      expect(graph.attnUnits).toBe(c.nKvHead);
      expect(c.nHead).toBeGreaterThan(c.nKvHead); // GQA: a unit is a KV group of several query heads
      if (preset === 'llama-tiny') {
        expect(c.nInner % graph.ffnChunks).not.toBe(0);
        expect(c.tieWordEmbeddings).toBe(false);
      } else expect(c.qkvBias).toBe(true);
    });

    it('the monolithic graph equals the float64 reference, prefill and decode', async () => {
      const mono = await createMonolithic(ckpt);
      const ids = tokenIds(PREFILL + 5, 3, c.vocabSize), cache = emptyLlamaReferenceCache(c);
      const ref = llamaReferenceForward(ckpt, ids.slice(0, PREFILL), cache);
      expect(maxAbsDiff(await mono.forward(ids.slice(0, PREFILL)), ref.at(-1)!)).toBeLessThan(TOL);
      for (const id of ids.slice(PREFILL)) expect(maxAbsDiff(await mono.forward([id]), llamaReferenceForward(ckpt, [id], cache)[0]!)).toBeLessThan(TOL);
      expect(maxAbs(ref.at(-1)!)).toBeGreaterThan(100 * TOL); // the comparison can fail
    });

    it('every plan, with plan changes mid-sequence, equals the monolithic graph and the reference', async () => {
      const graph = buildModelGraph(c), mono = await createMonolithic(ckpt);
      const split = await createLocalSplit(ckpt, edgeOnlyPlan(graph));
      const plans: PartitionPlan[] = [edgeOnlyPlan(graph), cloudOnlyPlan(graph), halfPlan(graph), layerSplitPlan(graph, 1), ...Array.from({ length: 8 }, (_, i) => randomPlan(graph, 300 + i))];
      let changes = 0;
      for (const [i, plan] of plans.entries()) {
        const changeAt = i % 2 === 1 ? new Map([[3, randomPlan(graph, 900 + i)], [9, i % 4 === 1 ? cloudOnlyPlan(graph) : halfPlan(graph)]]) : new Map<number, PartitionPlan>();
        await split.edge.reset(plan);
        mono.reset();
        const cache = emptyLlamaReferenceCache(c);
        const prompt = tokenIds(PREFILL, i + 1, c.vocabSize), next = tokenIds(DECODE, i + 50, c.vocabSize);
        const got = await split.edge.forward(prompt);
        let worst = Math.max(maxAbsDiff(got, await mono.forward(prompt)), maxAbsDiff(got, llamaReferenceForward(ckpt, prompt, cache).at(-1)!));
        for (let step = 0; step < DECODE; step++) {
          const change = changeAt.get(step);
          if (change) {
            await split.edge.setPlan(change);
            changes++;
          }
          const s = await split.edge.forward([next[step]!]);
          worst = Math.max(worst, maxAbsDiff(s, await mono.forward([next[step]!])), maxAbsDiff(s, llamaReferenceForward(ckpt, [next[step]!], cache)[0]!));
        }
        expect(worst, `plan ${i}: ${JSON.stringify(plan.layers)}`).toBeLessThan(TOL);
      }
      expect(changes).toBeGreaterThanOrEqual(10);
    });
  });
}
