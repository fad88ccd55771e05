import { describe, expect, it } from 'vitest';
import { PRESETS, buildModelGraph, cloudOnlyPlan, halfPlan, layerSplitPlan, randomPlan, syncPointsPerForward } from '@splitwise/core';
import { choiceFromSpec, computeShare, planOf, samePlan, specOf, toggled } from './plans.ts';
import { readParams } from './params.ts';

const graph = buildModelGraph(PRESETS.tiny); // 2 layers, 4 heads, 4 FFN chunks

describe('plan choices', () => {
  it('round-trips every spec form through the URL spec', () => {
    for (const spec of ['edge', 'cloud', 'half', 'policy', 'layers:1', 'custom:ecee/eeee.eeec/ceee']) {
      expect(specOf(choiceFromSpec(spec, graph), graph)).toBe(spec);
    }
    const random = choiceFromSpec('random:5', graph);
    expect(random.preset).toBe('custom');
    expect(planOf(random, graph)).toEqual(randomPlan(graph, 5));
    expect(planOf(choiceFromSpec(specOf(random, graph), graph), graph)).toEqual(randomPlan(graph, 5));
  });

  it('the policy preset runs the policy\'s last plan, cloud only before its first decision', () => {
    const c = choiceFromSpec('policy', graph);
    expect(c.preset).toBe('policy');
    expect(planOf(c, graph)).toEqual(cloudOnlyPlan(graph));
    expect(planOf({ ...c, policy: layerSplitPlan(graph, 1) }, graph)).toEqual(layerSplitPlan(graph, 1));
    expect(() => planOf({ ...c, policy: { ...layerSplitPlan(graph, 1), layers: [] } }, graph)).toThrow();
    expect(readParams('?plan=policy&memory=512').memoryMB).toBe(512);
    expect(readParams('?plan=policy&memory=-1').memoryMB).toBeUndefined();
  });

  it('API cloud-only: its own preset, all compute on the cloud, not the same plan as cloud only, and the grid edits it as a partition', () => {
    const c = choiceFromSpec('api', graph);
    expect(c.preset).toBe('api');
    expect(specOf(c, graph)).toBe('api');
    const api = planOf(c, graph);
    expect(api.apiCloudOnly).toBe(true);
    const share = computeShare(graph, api, 8);
    expect(share.edgeFlops).toBe(0);
    expect(share.cloudFlops).toBeGreaterThan(computeShare(graph, cloudOnlyPlan(graph), 8).cloudFlops); // the LM head too
    expect(samePlan(api, cloudOnlyPlan(graph))).toBe(false);
    const edited = toggled(api, 0, 'head', 1);
    expect(edited.apiCloudOnly).toBeUndefined();
    expect(edited.layers[0]!.cloudHeads).toEqual([0, 2, 3]);
  });

  it('rejects masks that do not fit the model', () => {
    expect(() => choiceFromSpec('custom:eeee/eeee', graph)).toThrow(/has 1 layers; the model has 2/);
    expect(() => choiceFromSpec('custom:eeex/eeee.eeee/eeee', graph)).toThrow(/e\/c/);
    expect(() => choiceFromSpec('layers', graph)).toThrow();
  });

  it('toggles one head or chunk', () => {
    const p = toggled(toggled(halfPlan(graph), 0, 'head', 0), 1, 'chunk', 1);
    expect(p.layers[0]!.cloudHeads).toEqual([0, 1, 3]);
    expect(p.layers[1]!.cloudFfnChunks).toEqual([3]);
    expect(toggled(toggled(p, 0, 'head', 0), 0, 'head', 0)).toEqual(p);
  });
});

describe('compute share', () => {
  it('splits one token between the sides, the LM head always on the edge', () => {
    const T = 17;
    const edge = computeShare(graph, planOf(choiceFromSpec('edge', graph), graph), T);
    const cloud = computeShare(graph, planOf(choiceFromSpec('cloud', graph), graph), T);
    const half = computeShare(graph, halfPlan(graph), T);
    expect(edge.cloudFlops).toBe(0);
    expect(cloud.edgeFlops).toBe(graph.edgeFixed.decodeFlops(T));
    // the same total whatever the plan, and half of the layers' work on each side
    expect(half.edgeFlops + half.cloudFlops).toBeCloseTo(edge.edgeFlops, 6);
    expect(half.cloudFlops).toBeCloseTo((edge.edgeFlops - graph.edgeFixed.decodeFlops(T)) / 2, 6);
    expect(half.syncPoints).toBe(syncPointsPerForward(halfPlan(graph)));
  });
});

describe('URL parameters', () => {
  it('reads the test presets and ignores bad values', () => {
    const p = readParams('?plan=half&precision=fp16&max=16&prompt=Hi%20there&autorun=1&temperature=0.7&topk=40&topp=0.9&seed=3&backend=webgpu&threads=2&store=0');
    expect(p).toMatchObject({ plan: 'half', precision: 'fp16', prompt: 'Hi there', autorun: true, preferWebGPU: true, threads: 2, store: false });
    expect(p.sampling).toEqual({ temperature: 0.7, topK: 40, topP: 0.9, seed: 3, maxNewTokens: 16 });
    const bad = readParams('?precision=fp64&max=-3&topp=7&threads=0');
    expect(bad.precision).toBe('fp32');
    expect(bad.sampling.maxNewTokens).toBe(32);
    expect(bad.sampling.topP).toBe(1);
    expect(bad.threads).toBeUndefined();
  });
});
