// Constant subset graphs (SplitSessions' constantSubsets, the browser's default) are as exact as
// the weightless ones: a mixed block runs the `attn` / `ffn` graph of its layer and owned
// unit/chunk subset with those weights as initializers, built on first use and kept in an LRU.
// For random plans with plan changes mid-sequence (which rebuild KV through the weightless `kv`
// graph), the split's logits equal the monolithic graph's within 1e-4, for GPT-2 and the LLaMA
// family, also when the LRU bound is so small that sessions are evicted and rebuilt.
import { describe, expect, it } from 'vitest';
import {
  PRESETS,
  buildModelGraph,
  cloudOnlyPlan,
  edgeOnlyPlan,
  halfPlan,
  randomPlan,
  SplitWeights,
  type Checkpoint,
  type ModelConfig,
  type PartitionPlan,
} from '@splitwise/core';
import { makeRandomModel } from '@splitwise/checkpoint';
import { createLocalSplit, createMonolithic, graphSource, type LocalSplitOptions } from '@splitwise/runtime-node';
import ort from 'onnxruntime-node';
import { maxAbsDiff, tokenIds } from './helpers.ts';

const TOL = 1e-4;
const PREFILL = 9;
const DECODE = 14;

async function check(ckpt: Checkpoint<ModelConfig>, o: LocalSplitOptions, nPlans: number) {
  const c = ckpt.config, graph = buildModelGraph(c), mono = await createMonolithic(ckpt);
  const split = await createLocalSplit(ckpt, edgeOnlyPlan(graph), o);
  const plans: PartitionPlan[] = [halfPlan(graph), edgeOnlyPlan(graph), cloudOnlyPlan(graph), ...Array.from({ length: nPlans }, (_, i) => randomPlan(graph, 700 + i))];
  let changes = 0;
  for (const [i, plan] of plans.entries()) {
    const changeAt = i % 2 === 0 ? new Map([[3, randomPlan(graph, 1700 + i)], [9, i % 4 === 0 ? halfPlan(graph) : randomPlan(graph, 2700 + i)]]) : new Map<number, PartitionPlan>();
    await split.edge.reset(plan);
    mono.reset();
    const prompt = tokenIds(PREFILL, i + 1, c.vocabSize), next = tokenIds(DECODE, i + 50, c.vocabSize);
    let worst = maxAbsDiff(await split.edge.forward(prompt), await mono.forward(prompt));
    for (let step = 0; step < DECODE; step++) {
      const change = changeAt.get(step);
      if (change) {
        await split.edge.setPlan(change);
        changes++;
      }
      worst = Math.max(worst, maxAbsDiff(await split.edge.forward([next[step]!]), await mono.forward([next[step]!])));
    }
    expect(worst, `plan ${i}: ${JSON.stringify(plan.layers)}`).toBeLessThan(TOL);
  }
  expect(changes).toBeGreaterThanOrEqual(plans.length - 1);
  return { edge: split.sessions.edge.subsetStats(), cloud: split.sessions.cloud.subsetStats(), split };
}

for (const preset of ['tiny', 'llama-tiny'] as const) {
  describe(`${preset}: constant subset graphs`, () => {
    const ckpt = makeRandomModel(PRESETS[preset], 31) as Checkpoint<ModelConfig>;

    it('split = monolithic for random plans with plan changes, subsets as initializers', async () => {
      const { edge, cloud, split } = await check(ckpt, { constantSubsets: true }, 12);
      // both sides really ran constant subset graphs, and decoding reused them
      for (const s of [edge, cloud]) {
        expect(s.built).toBeGreaterThan(10);
        expect(s.hits).toBeGreaterThan(5 * s.built);
        expect(s.evicted).toBe(0);
      }
      // a side's sessions hold exactly the weights of the subsets they were built from
      expect(edge.bytes).toBeGreaterThan(0);
      await split.sessions.edge.release();
      await split.sessions.cloud.release();
      expect(split.sessions.edge.subsetStats().sessions).toBe(0);
    });

    it('stays exact when the LRU bound evicts sessions between calls', async () => {
      const { edge } = await check(ckpt, { constantSubsets: true, subsetCacheBytes: 64 * 1024 }, 4);
      expect(edge.evicted).toBeGreaterThan(0);
      expect(edge.bytes).toBeLessThanOrEqual(64 * 1024 + edge.largest);
    });

    it('off: the weightless graphs, no subset sessions', async () => {
      const { edge, cloud } = await check(ckpt, { constantSubsets: false }, 2);
      expect(edge.built + cloud.built).toBe(0);
    });
  });
}

describe('gpt2-small dimensions (the browser bench shape): constant subset graphs', () => {
  it('half plan, then a random plan mid-sequence, equals the monolithic graph', async () => {
    const ckpt = makeRandomModel(PRESETS.gpt2, 2) as Checkpoint<ModelConfig>;
    const graph = buildModelGraph(ckpt.config), mono = await createMonolithic(ckpt);
    const split = await createLocalSplit(ckpt, halfPlan(graph), { constantSubsets: true });
    const prompt = tokenIds(6, 4, ckpt.config.vocabSize), next = tokenIds(6, 5, ckpt.config.vocabSize);
    let worst = maxAbsDiff(await split.edge.forward(prompt), await mono.forward(prompt));
    for (const [step, id] of next.entries()) {
      if (step === 3) await split.edge.setPlan(randomPlan(graph, 12));
      worst = Math.max(worst, maxAbsDiff(await split.edge.forward([id]), await mono.forward([id])));
    }
    expect(worst).toBeLessThan(TOL);
    // every layer of the half plan is mixed: 12 attn + 12 ffn subsets per side, then the new plan's
    expect(split.sessions.edge.subsetStats().built).toBeGreaterThanOrEqual(2 * ckpt.config.nLayer);
  });
});

describe('subset graphs take only activations', () => {
  for (const preset of ['tiny', 'llama-tiny', 'qwen2-tiny'] as const) {
    it(`${preset}: weights are initializers, named as the WeightBinding feeds them`, async () => {
      const ckpt = makeRandomModel(PRESETS[preset], 3) as Checkpoint<ModelConfig>;
      const graph = buildModelGraph(ckpt.config), w = new SplitWeights(ckpt, graph), source = graphSource(ckpt);
      const llama = ckpt.config.family === 'llama';
      const attn = await ort.InferenceSession.create(source.subsetGraph!('attn', w.binding.attn(1, [0, 2]), 'layer.1.attn'));
      expect([...attn.inputNames].sort()).toEqual(llama ? ['past_k', 'past_v', 'positions', 'x'] : ['past_k', 'past_v', 'x']);
      const ffn = await ort.InferenceSession.create(source.subsetGraph!('ffn', w.binding.ffn(1, [1]), 'layer.1.ffn'));
      expect([...ffn.inputNames]).toEqual(['x']);
      expect(() => source.subsetGraph!('ffn', w.binding.attn(1, [0]), 'wrong')).toThrow(/no float32 weight/);
    });
  }
});

describe('warming a plan', () => {
  it('builds the side\'s subset sessions ahead, so the first token builds none', async () => {
    const ckpt = makeRandomModel(PRESETS.tiny, 8) as Checkpoint<ModelConfig>;
    const graph = buildModelGraph(ckpt.config), mono = await createMonolithic(ckpt);
    const split = await createLocalSplit(ckpt, edgeOnlyPlan(graph), { constantSubsets: true });
    const plan = randomPlan(graph, 77);
    const asked = await split.edge.runner.warmSubsets(plan);
    const built = split.sessions.edge.subsetStats().built;
    expect(asked).toBeGreaterThan(0);
    expect(built).toBe(asked);
    await split.edge.reset(plan);
    const ids = tokenIds(5, 1, ckpt.config.vocabSize);
    expect(maxAbsDiff(await split.edge.forward(ids), await mono.forward(ids))).toBeLessThan(TOL);
    expect(split.sessions.edge.subsetStats().built).toBe(built);
    // off: nothing to warm
    const off = await createLocalSplit(ckpt, edgeOnlyPlan(graph));
    expect(await off.edge.runner.warmSubsets(plan)).toBe(0);
  });
});
