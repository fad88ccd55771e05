// The split is exact: for every plan, the split engine's logits equal the monolithic graph's
// (within 1e-4 max abs), through a prefill and decode steps, also when the plan changes
// mid-sequence; and the monolithic graph equals an independent TypeScript forward pass.
import { describe, expect, it } from 'vitest';
import {
  PRESETS,
  buildModelGraph,
  cloudOnlyPlan,
  edgeOnlyPlan,
  emptyReferenceCache,
  halfPlan,
  randomPlan,
  referenceForward,
  syncPointsPerForward,
  type CloudReply,
  type CloudRequest,
  type GPT2Config,
  type Gpt2Checkpoint,
  type PartitionPlan,
} from '@splitwise/core';
import { makeRandomGpt2 } from '@splitwise/checkpoint';
import { createLocalSplit, createMonolithic, type LocalSplit } from '@splitwise/runtime-node';
import { maxAbs, maxAbsDiff, tokenIds } from './helpers.ts';

const TOL = 1e-4;
const PREFILL = 16;
const DECODE = 32;

interface Run {
  worst: number;
  crossings: number;
}

/**
 * Prefill + decode under `plan`, comparing every step's logits with the monolithic graph.
 * `changes` maps a decode step to the plan adopted just before it.
 */
async function compare(split: LocalSplit, mono: Awaited<ReturnType<typeof createMonolithic>>, plan: PartitionPlan, seed: number, changes: Map<number, PartitionPlan> = new Map()): Promise<Run> {
  const vocab = split.graph.config.vocabSize;
  await split.edge.reset(plan);
  mono.reset();
  const calls0 = split.link.stats.calls;
  const prompt = tokenIds(PREFILL, seed, vocab);
  let worst = maxAbsDiff(await split.edge.forward(prompt), await mono.forward(prompt));
  const next = tokenIds(DECODE, seed + 7, vocab);
  for (let step = 0; step < DECODE; step++) {
    const change = changes.get(step);
    if (change) await split.edge.setPlan(change);
    worst = Math.max(worst, maxAbsDiff(await split.edge.forward([next[step]!]), await mono.forward([next[step]!])));
  }
  return { worst, crossings: split.link.stats.calls - calls0 };
}

describe('tiny model: 50 random plans', () => {
  const ckpt = makeRandomGpt2(PRESETS.tiny, 11);

  it('monolithic graph equals the TypeScript reference forward', async () => {
    const mono = await createMonolithic(ckpt);
    const ids = tokenIds(PREFILL + 4, 3, ckpt.config.vocabSize);
    const cache = emptyReferenceCache(ckpt.config);
    const ref = referenceForward(ckpt, ids.slice(0, PREFILL), cache);
    expect(maxAbsDiff(await mono.forward(ids.slice(0, PREFILL)), ref.at(-1)!)).toBeLessThan(TOL);
    for (const id of ids.slice(PREFILL)) {
      const r = referenceForward(ckpt, [id], cache)[0]!;
      expect(maxAbsDiff(await mono.forward([id]), r)).toBeLessThan(TOL);
    }
    // the comparison can fail: logits move by far more than the tolerance between positions
    expect(maxAbs(ref.at(-1)!)).toBeGreaterThan(100 * TOL);
  });

  it('split logits equal the monolithic graph for every plan, with plan changes mid-sequence', async () => {
    const mono = await createMonolithic(ckpt);
    const graph = buildModelGraph(ckpt.config);
    const split = await createLocalSplit(ckpt, edgeOnlyPlan(graph));
    const plans = [edgeOnlyPlan(graph), cloudOnlyPlan(graph), halfPlan(graph), ...Array.from({ length: 47 }, (_, i) => randomPlan(graph, 1000 + i))];
    let mixedLayers = 0, changed = 0;
    for (const [i, plan] of plans.entries()) {
      // every other plan changes twice during decoding, including to and from whole-side plans
      const changes = i % 2 === 1 ? new Map([[5, randomPlan(graph, 5000 + i)], [19, i % 4 === 1 ? cloudOnlyPlan(graph) : edgeOnlyPlan(graph)]]) : new Map();
      changed += changes.size;
      const r = await compare(split, mono, plan, i + 1, changes);
      expect(r.worst, `plan ${i}: ${JSON.stringify(plan.layers)}`).toBeLessThan(TOL);
      mixedLayers += plan.layers.filter((l) => l.cloudHeads.length % ckpt.config.nHead !== 0).length;
    }
    expect(plans.length).toBeGreaterThanOrEqual(50);
    expect(mixedLayers).toBeGreaterThan(10); // the random plans really do split layers
    expect(changed).toBeGreaterThan(40);
  });

  it('a cloud that drops its partial sums is caught by the comparison', async () => {
    const mono = await createMonolithic(ckpt);
    const graph = buildModelGraph(ckpt.config);
    const split = await createLocalSplit(ckpt, halfPlan(graph));
    const honest = split.link.request.bind(split.link);
    split.link.request = async (req: CloudRequest): Promise<CloudReply> => {
      const r = await honest(req);
      if (r.type === 'segment' && r.partial) r.partial.fill(0);
      return r;
    };
    const r = await compare(split, mono, halfPlan(graph), 1);
    expect(r.worst).toBeGreaterThan(100 * TOL);
  });

  it('sync points follow the plan: one per run of cloud work', async () => {
    const graph = buildModelGraph(ckpt.config);
    expect(syncPointsPerForward(edgeOnlyPlan(graph))).toBe(0);
    expect(syncPointsPerForward(cloudOnlyPlan(graph))).toBe(1);
    expect(syncPointsPerForward(halfPlan(graph))).toBe(2 * ckpt.config.nLayer);
    const split = await createLocalSplit(ckpt, cloudOnlyPlan(graph));
    const before = { ...split.link.stats };
    await split.edge.forward([1, 2, 3]);
    expect(split.link.stats.calls - before.calls).toBe(1);
    // x up; x back plus the checkpoint rows of the layers the cloud ran after the first
    const rowBytes = 3 * ckpt.config.nEmbd * 4;
    expect(split.link.stats.bytesUp - before.bytesUp).toBe(rowBytes);
    expect(split.link.stats.bytesDown - before.bytesDown).toBe(rowBytes * ckpt.config.nLayer);
  });
});

describe('config variants', () => {
  const variants: Array<[string, Partial<GPT2Config>]> = [
    ['exact gelu, n_inner = 4*n_embd', { activation: 'gelu', nInner: 256 }],
    ['relu, untied LM head, scale by inverse layer index', { activation: 'relu', tieWordEmbeddings: false, scaleAttnByInverseLayerIdx: true }],
    ['no attention scaling, odd epsilon, 3 layers', { scaleAttnWeights: false, layerNormEpsilon: 1e-3, nLayer: 3 }],
  ];
  for (const [name, over] of variants) {
    it(name, async () => {
      const ckpt: Gpt2Checkpoint = makeRandomGpt2({ ...PRESETS.tiny, ...over }, 5);
      const mono = await createMonolithic(ckpt);
      const ids = tokenIds(8, 9, ckpt.config.vocabSize);
      const ref = referenceForward(ckpt, ids, emptyReferenceCache(ckpt.config));
      expect(maxAbsDiff(await mono.forward(ids), ref.at(-1)!)).toBeLessThan(TOL);
      const graph = buildModelGraph(ckpt.config, { ffnChunks: 3 });
      // whole layers through the weightless block graph here (the default uses per-layer constant graphs)
      const split = await createLocalSplit(ckpt, edgeOnlyPlan(graph), { ffnChunks: 3, constantLayers: false });
      for (const plan of [halfPlan(graph), randomPlan(graph, 1), cloudOnlyPlan(graph)]) {
        expect((await compare(split, mono, plan, 2, new Map([[3, randomPlan(graph, 9)]]))).worst).toBeLessThan(TOL);
      }
    });
  }
});

describe('gpt2-small dimensions', () => {
  it('5 plans agree with the monolithic graph, and the monolithic graph with the reference', async () => {
    const ckpt = makeRandomGpt2(PRESETS.gpt2, 2);
    const mono = await createMonolithic(ckpt);
    const graph = buildModelGraph(ckpt.config);
    const ids = tokenIds(6, 4, ckpt.config.vocabSize);
    const ref = referenceForward(ckpt, ids, emptyReferenceCache(ckpt.config));
    expect(maxAbsDiff(await mono.forward(ids), ref.at(-1)!)).toBeLessThan(TOL);

    const split = await createLocalSplit(ckpt, edgeOnlyPlan(graph));
    const plans: Array<[PartitionPlan, Map<number, PartitionPlan>]> = [
      [edgeOnlyPlan(graph), new Map()],
      [cloudOnlyPlan(graph), new Map()],
      [halfPlan(graph), new Map()],
      [randomPlan(graph, 1), new Map([[10, randomPlan(graph, 2)]])],
      [randomPlan(graph, 3), new Map([[4, cloudOnlyPlan(graph)], [20, randomPlan(graph, 4)]])],
    ];
    for (const [i, [plan, changes]] of plans.entries()) {
      const r = await compare(split, mono, plan, 100 + i, changes);
      expect(r.worst, `gpt2 plan ${i}`).toBeLessThan(TOL);
    }
  });
});
